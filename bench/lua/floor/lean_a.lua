#!lua name=floor_a
-- bench/lua/floor/lean_a.lua: lean variant (a) of the bench chain's five
-- Functions (docs/benchmarks.md, "The floor of one Function per step"):
-- the SAME Redis commands as duro.lua runs for them (a MONITOR capture of
-- one workflow), with the least Lua that runs them: no option handling,
-- no validation, no error path. A measuring device, not a design: it
-- trusts its caller (bench/lua/floor.py) and the KEYS and ARGV of the
-- real Functions (same counts, same order).

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

-- 'duro:{p15}:' of 'duro:{p15}:wf:t1', and 't1'
local function prefix(wf) return string.match(wf, '^(.*:)wf:') end
local function wf_id(wf) return string.match(wf, ':wf:(.*)$') end

-- start: KEYS wf hist buf wft timers pa idx_open idx_closed; ARGV id run
-- type queue input started_event ...
redis.register_function('floor_a_start', function(keys, a)
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

-- the activity task: XADD, its pending record, the eager take
local function schedule(keys, stream, w, ms, seq, name, input, opts, stc,
                        worker)
    local id = redis.call('XADD', stream, '*', 'id', wf_id(keys[1]), 'run',
                          w[1], 'seq', seq, 'attempt', '1', 'name', name,
                          'input', input, 'opts', opts, 'wfqueue', w[7])
    redis.call('HSET', keys[6], seq, '1,' .. id .. ',0,,5,0;' .. w[7],
               seq .. '.s', stc .. ',0,' .. ms .. ',4,23;' .. name .. opts ..
               input)
    local r = redis.call('XREADGROUP', 'GROUP', 'duro', worker, 'COUNT', '1',
                         'STREAMS', stream, '>')
    return r[1][2][1]
end

-- wft_complete: KEYS wf hist buf wft timers pa idx_open idx_closed act;
-- ARGV run token entry wt_data ncmds 'activity' seq scheduled_event n
-- name input opts start_to_close _ _ worker sticky_ms ...
redis.register_function('floor_a_wft', function(keys, a)
    redis.call('TYPE', keys[9])
    local w = redis.call('HMGET', keys[1], unpack(WF17))
    local ms = now()
    redis.call('LLEN', keys[2])
    redis.call('TYPE', keys[6])
    redis.call('XACK', keys[4], 'duro', a[3])
    local e = schedule(keys, keys[9], w, ms, a[7], a[10], a[11], a[12],
                       a[13], a[16])
    local hlen = tonumber(w[3]) + 2
    redis.call('RPUSH', keys[2], 'WT\n' .. ms .. '\n' .. a[4],
               'AS\n' .. ms .. '\n' .. a[8])
    redis.call('HSET', keys[1], 'wft_entry', '', 'wft_error', '', 'hlen',
               hlen, 'sticky', a[16], 'wft', '0', 'sticky_ms', a[17])
    return {'eager', hlen, e[1], e[2]}
end)

-- act_complete: KEYS wf hist buf wft timers pa idx_open idx_closed act
-- [act_next]; ARGV run seq attempt entry 'completed' event _ _ hlen
-- wt_data ncmds, then 'activity' seq event n name input opts
-- start_to_close _ _ worker sticky_ms ..., or 'complete' event result
redis.register_function('floor_a_act', function(keys, a)
    local w = redis.call('HMGET', keys[1], unpack(WF17))
    local ms = now()
    redis.call('LLEN', keys[2])
    redis.call('HGET', keys[6], a[2])
    redis.call('XACK', keys[9], 'duro', a[4])
    local ac = 'AC\n' .. ms .. '\n' .. a[6]
    local wt = 'WT\n' .. ms .. '\n' .. a[10]
    local hlen = tonumber(w[3]) + 3
    if a[12] == 'activity' then
        local e = schedule(keys, keys[10], w, ms, a[13], a[16], a[17], a[18],
                           a[19], a[22])
        redis.call('RPUSH', keys[2], ac, wt, 'AS\n' .. ms .. '\n' .. a[14])
        redis.call('HDEL', keys[6], a[2], a[2] .. '.s')
        redis.call('HSET', keys[1], 'hlen', hlen)
        return {'eager', hlen, e[1], e[2]}
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
