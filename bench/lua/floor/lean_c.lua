#!lua name=floor_c
-- bench/lua/floor/lean_c.lua: lean variant (c) (docs/benchmarks.md, "The
-- floor of one Function per step"): (b) with the workflow hash's state in
-- one packed field ('s', 21 values joined by '|', read by one HGET/HMGET
-- and written by one HSET instead of a 17-field HMGET and HSETs of named
-- fields) and the pending-activity record a field of the workflow hash
-- ('a<seq>': no pa hash per workflow). Same KEYS and ARGV as (a); a
-- measuring device, not a design (no validation, no error path).

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

redis.register_function('floor_c_start', function(keys, a)
    redis.call('HGET', keys[1], 's')
    local ms = now()
    local ev = 'WS\n' .. ms .. '\n' .. a[6]
    redis.call('XADD', keys[4], '*', 'id', a[1], 'run', a[2], 'token', '1',
               'h1', ev)
    redis.call('DEL', keys[3], keys[2])
    local p = prefix(keys[1])
    redis.call('HSET', p .. 'vis:' .. a[2], 'id', a[1], 'run', a[2], 'type',
               a[3], 'queue', a[4], 'status', 'RUNNING', 'start', ms)
    redis.call('ZADD', p .. 'vx:start', ms, a[2])
    redis.call('ZADD', p .. 'vx:status:RUNNING', ms, a[2])
    redis.call('ZADD', p .. 'vx:type:' .. a[3], ms, a[2])
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

redis.register_function('floor_c_wft', function(keys, a)
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

redis.register_function('floor_c_act', function(keys, a)
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
    redis.call('HSET', p .. 'vis:' .. run, 'status', 'COMPLETED', 'close', ms)
    redis.call('ZREM', p .. 'vx:status:RUNNING', run)
    redis.call('ZADD', p .. 'vx:status:COMPLETED', w[START_MS], run)
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
