#!lua name=floor_d
-- bench/lua/floor/lean_d.lua: lean variant (d) (docs/benchmarks.md, "The
-- floor of one Function per step"): (c) with the visibility writes
-- batched: a start or a close appends one line to the partition's list
-- `visq` (one RPUSH) instead of writing the visibility row and its
-- indexes (HSET + 3 ZADD at the start, HSET + ZREM + ZADD at the close);
-- floor_d_drain applies up to ARGV[1] lines per call, one ZADD/ZREM per
-- index for all of them. Visibility then lags the workflow (eventually
-- consistent). Same KEYS and ARGV as (a); a measuring device, not a
-- design (no validation, no error path).

-- the packed state's values, by index
local RUN, STATUS, HLEN, TOKEN, WFT, WFT_ENTRY, QUEUE = 1, 2, 3, 4, 5, 6, 7
local STICKY, STICKY_MS, START_MS, CLOSE_MS, WFT_ERROR = 12, 13, 17, 19, 20

local function now()
    local t = redis.call('TIME')
    return t[1] .. string.format('%03d', math.floor(t[2] / 1000))
end

local function prefix(wf) return string.match(wf, '^(.*:)wf:') end
local function wf_id(wf) return string.match(wf, ':wf:(.*)$') end

local function unpack_s(s)
    local t, i = {}, 1
    for v in string.gmatch(s, '([^|]*)|') do
        t[i] = v
        i = i + 1
    end
    return t
end

local function pack_s(t) return table.concat(t, '|') .. '|' end

redis.register_function('floor_d_start', function(keys, a)
    redis.call('HGET', keys[1], 's')
    local ms = now()
    local ev = 'WS\n' .. ms .. '\n' .. a[6]
    redis.call('XADD', keys[4], '*', 'id', a[1], 'run', a[2], 'token', '1',
               'h1', ev)
    redis.call('DEL', keys[3], keys[2])
    redis.call('RPUSH', prefix(keys[1]) .. 'visq', 'S|' .. a[2] .. '|' ..
               a[1] .. '|' .. a[3] .. '|' .. a[4] .. '|' .. ms)
    redis.call('RPUSH', keys[2], ev)
    -- run status hlen token wft wft_entry queue wft_attempt wft_timeout
    -- exec_timeout bufn sticky sticky_ms wft_sticky run_timeout opt
    -- start_ms type close_ms wft_error cancel_requested
    local s = {a[2], 'RUNNING', '1', '1', '1', ms .. '-0', a[4], '1', a[8],
               a[7], '0', '', '', '', '0', '0', ms, a[3], '', '', '0'}
    redis.call('HSET', keys[1], 's', pack_s(s), 'input', a[5])
    return 1
end)

-- lease: the pending record (a field of the workflow hash, written with
-- the state by the caller) and its start-to-close timer
local function lease(keys, w, ms, seq, name, input, opts, stc, worker)
    local due = tostring(tonumber(ms) + tonumber(stc))
    redis.call('ZADD', keys[5], due, 'l|' .. wf_id(keys[1]) .. '|' .. seq ..
               '|1')
    return '1,L' .. worker .. ',0,,5,0;' .. w[QUEUE] .. ';' .. stc .. ',0,' ..
           ms .. ',4,23;' .. name .. opts .. input
end

redis.register_function('floor_d_wft', function(keys, a)
    local w = unpack_s(redis.call('HGET', keys[1], 's'))
    local ms = now()
    redis.call('LLEN', keys[2])
    redis.call('XACK', keys[4], 'duro', a[3])
    local rec = lease(keys, w, ms, a[7], a[10], a[11], a[12], a[13], a[16])
    local hlen = tonumber(w[HLEN]) + 2
    redis.call('RPUSH', keys[2], 'WT\n' .. ms .. '\n' .. a[4],
               'AS\n' .. ms .. '\n' .. a[8])
    w[WFT_ENTRY], w[WFT_ERROR], w[HLEN], w[STICKY], w[WFT], w[STICKY_MS] =
        '', '', tostring(hlen), a[16], '0', a[17]
    redis.call('HSET', keys[1], 's', pack_s(w), 'a' .. a[7], rec)
    return {'eager', hlen, {a[7], '1', a[10], a[11], a[12]}}
end)

redis.register_function('floor_d_act', function(keys, a)
    local r = redis.call('HMGET', keys[1], 's', 'a' .. a[2])
    local w = unpack_s(r[1])
    local ms = now()
    redis.call('LLEN', keys[2])
    redis.call('ZREM', keys[5], 'l|' .. wf_id(keys[1]) .. '|' .. a[2] .. '|' ..
               a[3])
    local ac = 'AC\n' .. ms .. '\n' .. a[6]
    local wt = 'WT\n' .. ms .. '\n' .. a[10]
    local hlen = tonumber(w[HLEN]) + 3
    w[HLEN] = tostring(hlen)
    if a[12] == 'activity' then
        local rec = lease(keys, w, ms, a[13], a[16], a[17], a[18], a[19],
                          a[22])
        redis.call('RPUSH', keys[2], ac, wt, 'AS\n' .. ms .. '\n' .. a[14])
        redis.call('HSET', keys[1], 's', pack_s(w), 'a' .. a[13], rec)
        redis.call('HDEL', keys[1], 'a' .. a[2])
        return {'eager', hlen, {a[13], '1', a[16], a[17], a[18]}}
    end
    local p, run = prefix(keys[1]), w[RUN]
    redis.call('HDEL', keys[1], 'a' .. a[2])
    redis.call('RPUSH', p .. 'visq', 'C|' .. run .. '|COMPLETED|' .. ms ..
               '|' .. w[START_MS])
    redis.call('DEL', keys[3])
    redis.call('PEXPIRE', keys[1], '285125000')
    redis.call('PEXPIRE', keys[2], '285125000')
    redis.call('PUBLISH', 'duro:closed:' .. string.match(keys[1], '{[^}]*}'),
               wf_id(keys[1]))
    redis.call('RPUSH', keys[2], ac, wt, 'WC\n' .. ms .. '\n' .. a[13])
    w[STATUS], w[CLOSE_MS] = 'COMPLETED', ms
    w[WFT], w[WFT_ENTRY], w[STICKY], w[STICKY_MS] = '', '', '', ''
    redis.call('HSET', keys[1], 's', pack_s(w), 'result', a[14])
    return {'closed', hlen}
end)

-- drain: KEYS visq; ARGV count. Applies the oldest lines: each row's HSET,
-- then one ZADD per index for every start and one ZREM + ZADD for every
-- close. Returns the number of lines applied.
redis.register_function('floor_d_drain', function(keys, a)
    local lines = redis.call('LPOP', keys[1], a[1])
    if not lines then return 0 end
    local p = string.match(keys[1], '^(.*:)visq$')
    local starts, types, done, closed = {}, {}, {}, {}
    for i = 1, #lines do
        local f = {}
        for v in string.gmatch(lines[i], '[^|]+') do f[#f + 1] = v end
        if f[1] == 'S' then
            redis.call('HSET', p .. 'vis:' .. f[2], 'id', f[3], 'run', f[2],
                       'type', f[4], 'queue', f[5], 'status', 'RUNNING',
                       'start', f[6])
            starts[#starts + 1] = f[6]
            starts[#starts + 1] = f[2]
            local t = types[f[4]]
            if not t then
                t = {}
                types[f[4]] = t
            end
            t[#t + 1] = f[6]
            t[#t + 1] = f[2]
        else
            redis.call('HSET', p .. 'vis:' .. f[2], 'status', f[3], 'close',
                       f[4])
            done[#done + 1] = f[2]
            closed[#closed + 1] = f[5]
            closed[#closed + 1] = f[2]
        end
    end
    if #starts > 0 then
        redis.call('ZADD', p .. 'vx:start', unpack(starts))
        redis.call('ZADD', p .. 'vx:status:RUNNING', unpack(starts))
        for ty, t in next, types do
            redis.call('ZADD', p .. 'vx:type:' .. ty, unpack(t))
        end
    end
    if #done > 0 then
        redis.call('ZREM', p .. 'vx:status:RUNNING', unpack(done))
        redis.call('ZADD', p .. 'vx:status:COMPLETED', unpack(closed))
    end
    return #lines
end)
