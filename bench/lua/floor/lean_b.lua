#!lua name=floor_b
-- bench/lua/floor/lean_b.lua: lean variant (b) (docs/benchmarks.md, "The
-- floor of one Function per step"): (a) without the eager activity's
-- stream entry. The activity task is handed to the worker in the reply,
-- held by a lease: its pending record plus a start-to-close timer in the
-- partition's timer set (ZADD when leased, ZREM when completed) instead
-- of XADD + XREADGROUP + XACK. Same KEYS and ARGV as (a); a measuring
-- device, not a design (no validation, no error path).

local WF17 = {'run', 'status', 'hlen', 'token', 'wft', 'wft_entry', 'queue',
              'wft_attempt', 'wft_timeout', 'exec_timeout', 'bufn', 'sticky',
              'sticky_ms', 'wft_sticky', 'run_timeout', 'opt', 'start_ms'}
local CLOSE_DEL = {'failure', 'wft', 'wft_entry', 'wft_attempt', 'wft_error',
                   'wft_timeouts', 'wft_timeout', 'exec_timeout', 'bufn',
                   'cancel_requested', 'sticky', 'sticky_ms', 'wft_sticky',
                   'run_timeout', 'upend'}

local function now()
    local t = redis.call('TIME')
    return t[1] .. string.format('%03d', math.floor(t[2] / 1000))
end

local function prefix(wf) return string.match(wf, '^(.*:)wf:') end
local function wf_id(wf) return string.match(wf, ':wf:(.*)$') end

-- the start is (a)'s
redis.register_function('floor_b_start', function(keys, a)
    redis.call('HMGET', keys[1], 'status', 'run', 'token', 'retention',
               'priority', 'fkey', 'fweight')
    local ms = now()
    local ev = 'WS\n' .. ms .. '\n' .. a[6]
    redis.call('XADD', keys[4], '*', 'id', a[1], 'run', a[2], 'token', '1',
               'h1', ev)
    redis.call('DEL', keys[3], keys[6], keys[2])
    local p = prefix(keys[1])
    redis.call('HSET', p .. 'vis:' .. a[2], 'id', a[1], 'run', a[2], 'type',
               a[3], 'queue', a[4], 'status', 'RUNNING', 'start', ms)
    redis.call('ZADD', p .. 'vx:start', ms, a[2])
    redis.call('ZADD', p .. 'vx:status:RUNNING', ms, a[2])
    redis.call('ZADD', p .. 'vx:type:' .. a[3], ms, a[2])
    redis.call('RPUSH', keys[2], ev)
    redis.call('HSET', keys[1], 'run', a[2], 'status', 'RUNNING', 'hlen', '1',
               'token', '1', 'wft', '1', 'wft_entry', ms .. '-0', 'queue',
               a[4], 'wft_attempt', '1', 'wft_timeout', a[8], 'exec_timeout',
               a[7], 'bufn', '0', 'sticky', '', 'wft_sticky', '',
               'run_timeout', '0', 'opt', '0', 'start_ms', ms, 'type', a[3],
               'input', a[5], 'result', '', 'failure', '', 'close_ms', '',
               'wft_error', '', 'cancel_requested', '0')
    return 1
end)

-- lease: the pending record and its start-to-close timer; the task itself
-- goes back in the reply
local function lease(keys, w, ms, seq, name, input, opts, stc, worker)
    local due = tostring(tonumber(ms) + tonumber(stc))
    redis.call('HSET', keys[6], seq, '1,L' .. worker .. ',0,,5,0;' .. w[7],
               seq .. '.s', stc .. ',0,' .. ms .. ',4,23;' .. name .. opts ..
               input)
    redis.call('ZADD', keys[5], due, 'l|' .. wf_id(keys[1]) .. '|' .. seq ..
               '|1')
    return {seq, '1', name, input, opts}
end

redis.register_function('floor_b_wft', function(keys, a)
    local w = redis.call('HMGET', keys[1], unpack(WF17))
    local ms = now()
    redis.call('LLEN', keys[2])
    redis.call('TYPE', keys[6])
    redis.call('XACK', keys[4], 'duro', a[3])
    local t = lease(keys, w, ms, a[7], a[10], a[11], a[12], a[13], a[16])
    local hlen = tonumber(w[3]) + 2
    redis.call('RPUSH', keys[2], 'WT\n' .. ms .. '\n' .. a[4],
               'AS\n' .. ms .. '\n' .. a[8])
    redis.call('HSET', keys[1], 'wft_entry', '', 'wft_error', '', 'hlen',
               hlen, 'sticky', a[16], 'wft', '0', 'sticky_ms', a[17])
    return {'eager', hlen, t}
end)

redis.register_function('floor_b_act', function(keys, a)
    local w = redis.call('HMGET', keys[1], unpack(WF17))
    local ms = now()
    redis.call('LLEN', keys[2])
    redis.call('HGET', keys[6], a[2])
    redis.call('ZREM', keys[5], 'l|' .. wf_id(keys[1]) .. '|' .. a[2] .. '|' ..
               a[3])
    local ac = 'AC\n' .. ms .. '\n' .. a[6]
    local wt = 'WT\n' .. ms .. '\n' .. a[10]
    local hlen = tonumber(w[3]) + 3
    if a[12] == 'activity' then
        local t = lease(keys, w, ms, a[13], a[16], a[17], a[18], a[19], a[22])
        redis.call('RPUSH', keys[2], ac, wt, 'AS\n' .. ms .. '\n' .. a[14])
        redis.call('HDEL', keys[6], a[2], a[2] .. '.s')
        redis.call('HSET', keys[1], 'hlen', hlen)
        return {'eager', hlen, t}
    end
    local p, run = prefix(keys[1]), w[1]
    redis.call('HDEL', keys[1], unpack(CLOSE_DEL))
    redis.call('HSET', p .. 'vis:' .. run, 'status', 'COMPLETED', 'close', ms)
    redis.call('ZREM', p .. 'vx:status:RUNNING', run)
    redis.call('ZADD', p .. 'vx:status:COMPLETED', w[17], run)
    redis.call('DEL', keys[3], keys[6])
    redis.call('PEXPIRE', keys[1], '285125000')
    redis.call('PEXPIRE', keys[2], '285125000')
    redis.call('PUBLISH', 'duro:closed:' .. string.match(keys[1], '{[^}]*}'),
               wf_id(keys[1]))
    redis.call('RPUSH', keys[2], ac, wt, 'WC\n' .. ms .. '\n' .. a[13])
    redis.call('HSET', keys[1], 'status', 'COMPLETED', 'hlen', hlen,
               'close_ms', ms, 'result', a[14])
    return {'closed', hlen}
end)
