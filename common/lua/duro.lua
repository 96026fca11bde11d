#!lua name=duro
-- duro.lua: every state change of Duro, one Function call each.
--
-- The data model and each Function's keys and arguments are documented in
-- docs/internals.md. Rules every Function follows:
--  * all keys come from KEYS and share one partition's hash tag;
--  * user payloads (inputs, results, event data) are never decoded here,
--    only stored and concatenated, so no JSON number ever loses precision;
--  * a Function validates first and writes after, so an error leaves
--    nothing half done (Redis does not roll back a Function that fails
--    halfway): each is registered with the type of each of its KEYS,
--    which txn checks before calling it, but for keys the Function reads
--    before its first write or only deletes (check_types); a key of
--    another type answers DURO_WRONGTYPE. load_wf refuses a history with
--    events past its length (DURO_CORRUPT), where the first XADD would
--    fail. Out of memory needs no check: Redis refuses a Function that may
--    write before it starts (no allow-oom flag) and never stops one midway;
--  * time is Redis' own (TIME).

local DURO_LIBRARY_VERSION = 11
local GROUP = 'duro'

-- ---- Helpers -------------------------------------------------------------

local function str(n)
    return string.format('%.0f', n)
end

local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function fail(code, msg)
    return redis.error_reply(code .. ' ' .. (msg or ''))
end

-- wrongtype raises DURO_WRONGTYPE for key, found not to be a `want`.
local function wrongtype(key, want)
    local got = redis.call('TYPE', key)['ok']
    error({err = 'DURO_WRONGTYPE ' .. key .. ' is a ' .. got ..
               ', expected ' .. want})
end

-- read runs a read command on key (a `want`): a key of another type raises
-- DURO_WRONGTYPE naming it, so that a key read before the first write
-- needs no TYPE of its own (see check_types).
local function read(want, cmd, key, ...)
    local r = redis.pcall(cmd, key, ...)
    if type(r) == 'table' and r.err then
        if string.find(r.err, 'WRONGTYPE', 1, true) then
            wrongtype(key, want)
        end
        error(r)
    end
    return r
end

local function partition_of(key)
    return string.match(key, '{p(%d+)}') or '0'
end

local function queue_of(stream_key)
    return string.match(stream_key, ':[a-z]+:(.*)$')
end

-- json_str quotes a string for embedding in JSON (our own words only).
local function json_str(s)
    return cjson.encode(s)
end

-- timer_member builds "<kind>|<run>|<a>|<b>|<wfqueue>|<actqueue>|<id>".
local function timer_member(kind, run, a, b, wfq, actq, id)
    return kind .. '|' .. run .. '|' .. a .. '|' .. b .. '|' .. wfq .. '|' ..
               (actq or '-') .. '|' .. id
end

local function parse_member(m)
    local parts, pos = {}, 1
    for _ = 1, 6 do
        local bar = string.find(m, '|', pos, true)
        if not bar then return nil end
        parts[#parts + 1] = string.sub(m, pos, bar - 1)
        pos = bar + 1
    end
    parts[7] = string.sub(m, pos)
    if parts[7] == '' then return nil end
    return {kind = parts[1], run = parts[2], a = parts[3], b = parts[4],
            wfq = parts[5], actq = parts[6], id = parts[7]}
end

-- add_timer adds a timer and wakes the schedulers when it is now the
-- earliest of its partition, so they never sleep past it.
local function add_timer(timers, due, member)
    local first = redis.call('ZRANGE', timers, 0, 0, 'WITHSCORES')
    redis.call('ZADD', timers, str(due), member)
    if #first == 0 or due < tonumber(first[2]) then
        redis.call('PUBLISH', 'duro:wake', partition_of(timers))
    end
end

local function ack(stream, entry)
    if entry and entry ~= '' then
        redis.call('XACK', stream, GROUP, entry)
        redis.call('XDEL', stream, entry)
    end
end

-- ---- Workflow context ----------------------------------------------------

local WF_FIELDS = {'run', 'status', 'hlen', 'token', 'wft', 'wft_entry',
                   'queue', 'wft_attempt', 'wft_timeout', 'exec_timeout',
                   'bufn'}

-- LOADED holds the contexts of the current call; the wrapper every
-- Function is registered through writes their changed fields back in one
-- HSET each when the call returns.
local LOADED = {}

-- load_wf reads the workflow hash into a context. k names the keys the
-- Function uses (keys_of): wf, hist, buf, wft, timers, pa, idx_open,
-- idx_closed, act.
local function load_wf(k, now)
    local v = read('hash', 'HMGET', k.wf, unpack(WF_FIELDS))
    local w = {k = k, now = now or now_ms(), dirty = {}}
    for i, f in ipairs(WF_FIELDS) do w[f] = v[i] end
    if not w.run then return nil end
    w.id = string.match(k.wf, ':wf:(.*)$')
    w.hlen = tonumber(w.hlen) or 0
    -- append's XADD <hlen+1>-0 fails on a history that already has a later
    -- event (added by hand, or hlen damaged): refuse the call now, before
    -- its first write, rather than at that XADD
    if k.hist and string.sub(k.hist, -(#w.run + 1)) == ':' .. w.run then
        local later = read('stream', 'XREVRANGE', k.hist, '+',
                           '(' .. str(w.hlen) .. '-0', 'COUNT', 1)
        if #later > 0 then
            error({err = 'DURO_CORRUPT ' .. k.hist .. ' has event ' ..
                       later[1][1] .. ' past its length ' .. str(w.hlen)})
        end
    end
    LOADED[#LOADED + 1] = w
    return w
end

-- set changes a field of the workflow hash (written when the call ends);
-- values are strings, as HMGET returns them.
local function set(w, field, value)
    w[field] = value
    w.dirty[field] = value
end

local function flush(w)
    local args = {}
    for f, v in pairs(w.dirty) do
        args[#args + 1] = f
        args[#args + 1] = v
    end
    if #args > 0 then redis.call('HSET', w.k.wf, unpack(args)) end
    w.dirty = {}
end

-- ---- The key contract ----------------------------------------------------

-- KEY_ORDER: the one order of a workflow's keys in KEYS. Each Function
-- takes a prefix of it (keys it does not use in that prefix are named
-- `unused` at registration and any key of the partition may stand there,
-- e.g. timers), then its own extras (hist_cur; the activity streams a
-- commit's commands name by index). docs/internals.md; the C builders
-- (common/src/fcall.c) follow the same order.
local KEY_ORDER = {'wf', 'hist', 'buf', 'wft', 'timers', 'pa', 'idx_open',
                   'idx_closed', 'act'}
local KEY_TYPE = {wf = 'hash', hist = 'stream', buf = 'list', wft = 'stream',
                  timers = 'zset', pa = 'hash', idx_open = 'zset',
                  idx_closed = 'zset', act = 'stream'}

-- check_types answers an error reply when KEYS has fewer keys than types
-- lists, or a key exists with another type than its entry. Redis does not
-- roll back a Function that fails halfway, so a key made a string by hand
-- must stop the call before its first write, not at the XADD that would
-- fail after a ZREM or an XACK. One TYPE per distinct key (O(1), no
-- payload); keys past the list have type `rest` ('-' when nil).
-- '-' skips the check, for a key the Function itself checks before its
-- first write: the workflow hash and the run's history (load_wf reads
-- them; duro_act_complete the pending activities, pa_state), keys it only
-- DELs, the indexes (check_close, where a call may close the run). Each
-- TYPE costs about 1us of Redis CPU in the hot Functions, so they check
-- only what they could fail on.
local function check_types(keys, types, rest)
    if #keys < #types then
        return fail('DURO_BADARG', 'needs ' .. #types .. ' keys')
    end
    local seen = {}
    for i, key in ipairs(keys) do
        local want = types[i] or rest or '-'
        if want ~= '-' and not seen[key] then
            seen[key] = true
            local got = redis.call('TYPE', key)['ok']
            if got ~= 'none' and got ~= want then
                return fail('DURO_WRONGTYPE',
                            key .. ' is a ' .. got .. ', expected ' .. want)
            end
        end
    end
    return nil
end

-- check_close checks the keys close() writes that the hot Functions leave
-- unchecked: the indexes. Called before the first write of a call that
-- may close the run.
local function check_close(k)
    return check_types({k.idx_open, k.idx_closed}, {'zset', 'zset'})
end

-- set_of: a list as a set (numeric loop: the library's load-time
-- environment has no pairs/ipairs).
local function set_of(list)
    local t = {}
    list = list or {}
    for i = 1, #list do t[list[i]] = true end
    return t
end

-- contract derives from a Function's spec what txn needs: the names
-- keys_of must drop (unused slots and the canonical names past the
-- prefix), the extras, and the type txn checks for each key ('-': not
-- checked). spec: keys (the prefix length of KEY_ORDER), unused (names in
-- the prefix it ignores), check (names txn TYPE-checks; every other key
-- the Function checks itself or only deletes), extra (names of the keys
-- after the prefix), rest (the type of keys past those).
local function contract(spec)
    local unused, check = set_of(spec.unused), set_of(spec.check)
    local c = {keys = spec.keys, clear = {}, extra = spec.extra or {}}
    local types = {}
    for i = 1, #KEY_ORDER do
        local name = KEY_ORDER[i]
        if i > spec.keys or unused[name] then c.clear[#c.clear + 1] = name end
        if i <= spec.keys then
            types[i] = check[name] and KEY_TYPE[name] or '-'
        end
    end
    return c, types
end

-- keys_of names the KEYS a Function uses (c: from contract): the one key
-- table every Function reads (k.wf, k.hist, ...). The constructor spells
-- KEY_ORDER out, as fast as the tables each Function used to build; the
-- check below holds it to KEY_ORDER.
local function keys_of(keys, c)
    local k = {wf = keys[1], hist = keys[2], buf = keys[3], wft = keys[4],
               timers = keys[5], pa = keys[6], idx_open = keys[7],
               idx_closed = keys[8], act = keys[9]}
    local clear, extra = c.clear, c.extra
    for j = 1, #clear do k[clear[j]] = nil end
    for j = 1, #extra do k[extra[j]] = keys[c.keys + j] end
    return k
end

do
    local order = keys_of(KEY_ORDER, {keys = #KEY_ORDER, clear = {},
                                      extra = {}})
    for i = 1, #KEY_ORDER do
        if order[KEY_ORDER[i]] ~= KEY_ORDER[i] then
            error('keys_of does not follow KEY_ORDER at ' .. KEY_ORDER[i])
        end
    end
end

-- txn registers fn(k, args, keys) under its key contract (spec, see
-- contract): it checks the key types before the body runs, hands it the
-- named keys (and KEYS itself, which commands index), and flushes the
-- contexts it loaded on return.
local function txn(fn, spec)
    local c, types = contract(spec)
    return function(keys, args)
        local bad = check_types(keys, types, spec.rest)
        if bad then return bad end
        LOADED = {}
        local r = fn(keys_of(keys, c), args, keys)
        for _, w in ipairs(LOADED) do flush(w) end
        LOADED = {}
        return r
    end
end

-- current checks that the context's run is `run`, still RUNNING, and that
-- the history key the caller passed belongs to that run.
local function current(w, run)
    if not w or w.run ~= run or w.status ~= 'RUNNING' then return false end
    if w.k.hist and string.sub(w.k.hist, -(#run + 1)) ~= ':' .. run then
        return false
    end
    return true
end

local function append(w, etype, data, ts)
    w.hlen = w.hlen + 1
    redis.call('XADD', w.k.hist, str(w.hlen) .. '-0', 'type', etype, 'ts',
               str(ts or w.now), 'data', data)
    w.dirty.hlen = str(w.hlen) -- w.hlen itself stays a number
end

local function enqueue_wft(w, token)
    local entry = redis.call('XADD', w.k.wft, '*', 'id', w.id, 'run', w.run,
                             'token', tostring(token))
    set(w, 'wft_entry', entry)
end

-- schedule_wft makes a new workflow task outstanding.
local function schedule_wft(w)
    set(w, 'token', str((tonumber(w.token) or 0) + 1))
    set(w, 'wft', '1')
    set(w, 'wft_attempt', '1')
    enqueue_wft(w, w.token)
end

-- next_token issues a new fencing token for a re-issued task.
local function next_token(w)
    set(w, 'token', str((tonumber(w.token) or 0) + 1))
    return w.token
end

-- deliver records an inbound event: into the history with a new workflow
-- task when none is outstanding, else into the buffer, to be appended after
-- the outstanding task's commit (so that task's view stays exact).
local function deliver(w, etype, data)
    if w.wft == '1' then
        redis.call('RPUSH', w.k.buf, etype .. '\n' .. str(w.now) .. '\n' .. data)
        set(w, 'bufn', str((tonumber(w.bufn) or 0) + 1))
    else
        append(w, etype, data)
        schedule_wft(w)
    end
end

-- drain_buffer appends buffered events; returns how many there were.
local function drain_buffer(w)
    -- bufn counts what deliver buffered; a hash without it (written by an
    -- older library) may still have a buffer, so look
    if w.bufn and tonumber(w.bufn) == 0 then return 0 end
    local items = redis.call('LRANGE', w.k.buf, 0, -1)
    set(w, 'bufn', '0')
    for _, item in ipairs(items) do
        local a = string.find(item, '\n', 1, true)
        local b = a and string.find(item, '\n', a + 1, true)
        if b then
            append(w, string.sub(item, 1, a - 1), string.sub(item, b + 1),
                   tonumber(string.sub(item, a + 1, b - 1)))
        end
    end
    if #items > 0 then redis.call('DEL', w.k.buf) end
    return #items
end

-- close ends the run: status, indexes, pending work, the close notice.
local function close(w, status, field, value)
    set(w, 'status', status)
    set(w, 'close_ms', str(w.now))
    set(w, 'wft', '0')
    set(w, 'wft_entry', '')
    set(w, 'bufn', '0')
    if field then set(w, field, value) end
    redis.call('ZREM', w.k.idx_open, w.id)
    redis.call('ZADD', w.k.idx_closed, str(w.now), w.id)
    redis.call('DEL', w.k.buf, w.k.pa)
    if w.exec_timeout and w.exec_timeout ~= '0' then
        redis.call('ZREM', w.k.timers,
                   timer_member('x', w.run, 0, 0, w.queue, '-', w.id))
    end
    redis.call('PUBLISH', 'duro:closed:{p' .. partition_of(w.k.wf) .. '}', w.id)
end

-- ---- Activities ----------------------------------------------------------

local PA_FIELDS = {'name', 'queue', 'input', 'opts', 'attempt', 'entry',
                   'stc', 'hbt', 'sched', 'deadline', 'hb', 'details',
                   'failure'}

local function pa_get(w, seq, field)
    return redis.call('HGET', w.k.pa, seq .. '.' .. field)
end

-- pa_state reads what deciding an activity's fate needs, in one call.
local function pa_state(w, seq)
    local v = read('hash', 'HMGET', w.k.pa, seq .. '.attempt', seq .. '.entry',
                   seq .. '.queue', seq .. '.deadline')
    return {attempt = v[1], entry = v[2], queue = v[3], deadline = v[4]}
end

-- enqueue_activity puts an attempt in the queue; v holds name, input, opts
-- and details when the caller has them, else they are read back.
local function enqueue_activity(w, act, seq, attempt, v)
    v = v or redis.call('HMGET', w.k.pa, seq .. '.name', seq .. '.input',
                        seq .. '.opts', seq .. '.details')
    local entry
    if v[4] and v[4] ~= '' then
        entry = redis.call('XADD', act, '*', 'id', w.id, 'run', w.run, 'seq',
                           seq, 'attempt', tostring(attempt), 'name', v[1],
                           'input', v[2], 'opts', v[3], 'wfqueue', w.queue,
                           'details', v[4])
    else
        entry = redis.call('XADD', act, '*', 'id', w.id, 'run', w.run, 'seq',
                           seq, 'attempt', tostring(attempt), 'name', v[1],
                           'input', v[2], 'opts', v[3], 'wfqueue', w.queue)
    end
    redis.call('HSET', w.k.pa, seq .. '.entry', entry)
end

-- resolve_activity removes a pending activity and delivers its outcome
-- (appended directly, without scheduling a task, when `direct`).
local function resolve_activity(w, seq, etype, data, st, direct)
    st = st or pa_state(w, seq)
    local fields = {}
    for i, f in ipairs(PA_FIELDS) do fields[i] = seq .. '.' .. f end
    redis.call('HDEL', w.k.pa, unpack(fields))
    if st.queue and st.deadline and st.deadline ~= '0' then
        redis.call('ZREM', w.k.timers,
                   timer_member('s', w.run, seq, 0, w.queue, st.queue, w.id))
    end
    if direct then
        append(w, etype, data)
    else
        deliver(w, etype, data)
    end
end

-- abandon_activity drops a pending activity the workflow canceled: its
-- queued task and timers go; a running attempt is fenced off (its
-- heartbeats and completion get DURO_STALE).
local function abandon_activity(w, act, seq)
    local v = redis.call('HMGET', w.k.pa, seq .. '.attempt', seq .. '.entry',
                         seq .. '.queue')
    if not v[1] then return end
    ack(act, v[2])
    redis.call('ZREM', w.k.timers,
               timer_member('r', w.run, seq, v[1], w.queue, v[3], w.id),
               timer_member('s', w.run, seq, 0, w.queue, v[3], w.id))
    local fields = {}
    for i, f in ipairs(PA_FIELDS) do fields[i] = seq .. '.' .. f end
    redis.call('HDEL', w.k.pa, unpack(fields))
end

-- retry_or_resolve retries a failed attempt when the policy's delay allows
-- it before the schedule-to-close deadline, else resolves the activity.
local function retry_or_resolve(w, act, seq, attempt, delay, failure,
                                etype, data, st)
    local deadline = tonumber(st.deadline) or 0
    if delay >= 0 and (deadline == 0 or w.now + delay < deadline) then
        local next_attempt = attempt + 1
        redis.call('HSET', w.k.pa, seq .. '.attempt', tostring(next_attempt),
                   seq .. '.failure', failure, seq .. '.hb', '',
                   seq .. '.entry', '')
        if delay == 0 then
            enqueue_activity(w, act, seq, next_attempt)
        else
            add_timer(w.k.timers, w.now + delay,
                      timer_member('r', w.run, seq, next_attempt, w.queue,
                                   queue_of(act), w.id))
        end
        return 'retrying'
    end
    resolve_activity(w, seq, etype, data, st)
    return 'resolved'
end

local function timeout_failure(kind)
    return '{"message":' .. json_str('activity timed out (' .. kind .. ')') ..
               ',"type":"TimeoutError","nonRetryable":false}'
end

local function timed_out_data(seq, attempt, kind)
    return '{"seq":' .. seq .. ',"attempt":' .. attempt ..
               ',"timeoutType":"' .. kind .. '","failure":' ..
               timeout_failure(kind) .. '}'
end

-- ---- Functions -----------------------------------------------------------

-- duro_version 0
local function duro_version()
    return DURO_LIBRARY_VERSION
end

-- start_run writes a new run: hash, WorkflowStarted, the first task. An
-- extra inbound event (signal-with-start) goes in before that task is
-- enqueued, so the first task sees it.
local function start_run(k, args, extra_type, extra_data)
    local id, run, wtype, queue, input, started = args[1], args[2], args[3],
                                                  args[4], args[5], args[6]
    local exec_timeout = tonumber(args[7]) or 0
    local wft_timeout = tonumber(args[8]) or 10000
    local now = now_ms()
    local prev = redis.call('HGET', k.wf, 'token')
    redis.call('DEL', k.buf, k.pa, k.hist)
    local w = {k = k, now = now, dirty = {}, id = id, run = run, hlen = 0,
               token = prev or '0', queue = queue,
               exec_timeout = str(exec_timeout)}
    LOADED[#LOADED + 1] = w
    for f, v in pairs({run = run, type = wtype, queue = queue,
                       status = 'RUNNING', input = input, result = '',
                       failure = '', start_ms = str(now), close_ms = '',
                       wft = '0', wft_entry = '', wft_attempt = '1',
                       wft_error = '', wft_timeout = str(wft_timeout),
                       exec_timeout = str(exec_timeout),
                       cancel_requested = '0', bufn = '0'}) do
        set(w, f, v)
    end
    append(w, 'WorkflowStarted', started)
    if extra_type then append(w, extra_type, extra_data) end
    schedule_wft(w)
    redis.call('ZADD', k.idx_open, str(now), id)
    redis.call('ZREM', k.idx_closed, id)
    if exec_timeout > 0 then
        add_timer(k.timers, now + exec_timeout,
                  timer_member('x', run, 0, 0, queue, '-', id))
    end
    return run
end

local function start_args_ok(args)
    for i = 1, 6 do
        if not args[i] then return false end
    end
    return true
end

-- ---- Id reuse ------------------------------------------------------------

-- Temporal's WorkflowIdReusePolicy: whether a start may make a new run of
-- an id that already has one. A RUNNING run always refuses, except under
-- TerminateIfRunning, which terminates it in the same call.
local REUSE = {AllowDuplicate = true, AllowDuplicateFailedOnly = true,
               RejectDuplicate = true, TerminateIfRunning = true}
local FAILED_CLOSE = {FAILED = true, CANCELED = true, TERMINATED = true,
                      TIMED_OUT = true}

-- reuse_refused answers the refusal for a run `run` in `status` (nil:
-- the id has no run), or nil when the policy allows a new run.
local function reuse_refused(policy, status, run)
    if not status then return nil end
    if status == 'RUNNING' then
        if policy == 'TerminateIfRunning' then return nil end
    elseif policy == 'AllowDuplicate' or policy == 'TerminateIfRunning' or
        (policy == 'AllowDuplicateFailedOnly' and FAILED_CLOSE[status]) then
        return nil
    end
    return fail('DURO_ALREADY_STARTED', run .. ' ' .. status .. ' ' .. policy)
end

-- terminate_run appends WorkflowTerminated(data) and closes the run.
local function terminate_run(w, data, reason)
    append(w, 'WorkflowTerminated', data)
    close(w, 'TERMINATED', 'failure',
          '{"message":' .. json_str(reason) ..
              ',"type":"Terminated","nonRetryable":true}')
end

-- terminate_for terminates the RUNNING run cur_run for new run `run`
-- (TerminateIfRunning), or answers DURO_STALE when the caller's idea of
-- the running run (cur_run, history hist_cur) is not the current one; it
-- writes nothing then.
local function terminate_for(k, hist_cur, cur_run, run)
    local kc = {}
    for name, key in pairs(k) do kc[name] = key end
    kc.hist, kc.hist_cur = hist_cur, nil
    local w = hist_cur and load_wf(kc)
    if not current(w, cur_run) then
        return fail('DURO_STALE', 'running run changed')
    end
    local reason = 'terminated by a new run ' .. run ..
                       ' (id reuse policy TerminateIfRunning)'
    terminate_run(w, '{"reason":' .. json_str(reason) .. '}', reason)
    -- written now: the new run's context rewrites the same hash fields
    flush(w)
    return nil
end

-- duro_start 8|9 wf hist buf wft timers pa idx_open idx_closed [hist_cur]
--            id run type queue input started_data exec_timeout_ms
--            wft_timeout_ms [policy [cur_run]]
-- policy is an id reuse policy (default AllowDuplicate); TerminateIfRunning
-- with a RUNNING run needs that run's id (cur_run) and history (hist_cur).
local function duro_start(k, args)
    if not start_args_ok(args) then
        return fail('DURO_BADARG', 'duro_start needs 8 arguments')
    end
    local policy = args[9] or 'AllowDuplicate'
    if not REUSE[policy] then
        return fail('DURO_BADARG', 'unknown id reuse policy ' .. policy)
    end
    local prev = read('hash', 'HMGET', k.wf, 'status', 'run')
    local refused = reuse_refused(policy, prev[1], prev[2])
    if refused then return refused end
    if prev[1] == 'RUNNING' then
        local stale = terminate_for(k, k.hist_cur, args[10] or '', args[2])
        if stale then return stale end
    end
    return start_run(k, args)
end

-- load_running loads the workflow for an inbound event to run `run`:
-- returns its context, or nil and the error to answer.
local function load_running(k, run)
    local w = load_wf(k)
    if not w then return nil, fail('DURO_NOT_FOUND', 'no such workflow') end
    if w.status ~= 'RUNNING' then
        return nil, fail('DURO_NOT_RUNNING', w.status)
    end
    if not current(w, run) then return nil, fail('DURO_STALE', 'run changed') end
    return w
end

-- duro_signal 4 wf hist buf wft  run signal_data
local function duro_signal(k, args)
    local run, data = args[1], args[2]
    if not (run and data) then return fail('DURO_BADARG', 'duro_signal') end
    local w, err = load_running(k, run)
    if not w then return err end
    deliver(w, 'SignalReceived', data)
    return w.run
end

-- duro_signal_with_start 9 wf hist buf wft timers pa idx_open idx_closed hist_cur
--     id run type queue input started_data exec_timeout_ms wft_timeout_ms
--     signal_data cur_run [policy]
-- Signals the running run cur_run, or starts run `run` with the signal when
-- the id reuse policy allows it (default AllowDuplicate).
-- Returns {run, "signaled"|"started"}.
local function duro_signal_with_start(k, args)
    local signal, cur_run = args[9], args[10] or ''
    local policy = args[11] or 'AllowDuplicate'
    if not start_args_ok(args) or not signal or not k.hist_cur then
        return fail('DURO_BADARG', 'duro_signal_with_start arguments')
    end
    if not REUSE[policy] then
        return fail('DURO_BADARG', 'unknown id reuse policy ' .. policy)
    end
    local prev = read('hash', 'HMGET', k.wf, 'status', 'run')
    if prev[1] == 'RUNNING' then
        if prev[2] ~= cur_run then return fail('DURO_STALE', prev[2]) end
        k.hist = k.hist_cur
        local w = load_wf(k)
        if not current(w, cur_run) then return fail('DURO_STALE', prev[2]) end
        deliver(w, 'SignalReceived', signal)
        return {cur_run, 'signaled'}
    end
    local refused = reuse_refused(policy, prev[1], prev[2])
    if refused then return refused end
    return {start_run(k, args, 'SignalReceived', signal), 'started'}
end

-- duro_cancel 4 wf hist buf wft  run data
local function duro_cancel(k, args)
    local run, data = args[1], args[2] or '{}'
    local w, err = load_running(k, run)
    if not w then return err end
    if redis.call('HGET', k.wf, 'cancel_requested') == '1' then
        return 'already'
    end
    set(w, 'cancel_requested', '1')
    deliver(w, 'CancelRequested', data)
    return 'ok'
end

-- ---- Workflow-task commands ----------------------------------------------

-- COMMANDS: each kind of command a workflow task commits, as
-- `<kind> <field>...` in ARGV: its fields by name (their count is its
-- arity), whether it closes the run, and apply(w, c, keys), which writes
-- its event and effect from the decoded command c (c.seq, c.data, ...). A
-- field named `key` is the KEYS index of an activity stream (an extra of
-- the call, past its prefix); command() records where it is (key_at).
local COMMANDS = {}

-- command completes a kind's entry: its arity and key_at (numeric loop:
-- it runs while the library loads, which has no pairs/ipairs).
local function command(kind)
    kind.arity = #kind.fields
    for j = 1, kind.arity do
        if kind.fields[j] == 'key' then kind.key_at = j end
    end
    return kind
end

COMMANDS.activity = command{
    fields = {'seq', 'data', 'key', 'name', 'input', 'opts', 'stc', 'hbt',
              'stc2'},
    apply = function(w, c, keys)
        local act = keys[c.key]
        local stc2 = tonumber(c.stc2) or 0
        append(w, 'ActivityScheduled', c.data)
        local p = c.seq .. '.'
        local entry = redis.call('XADD', act, '*', 'id', w.id, 'run', w.run,
                                 'seq', c.seq, 'attempt', '1', 'name', c.name,
                                 'input', c.input, 'opts', c.opts,
                                 'wfqueue', w.queue)
        redis.call('HSET', w.k.pa, p .. 'name', c.name, p .. 'queue',
                   queue_of(act), p .. 'input', c.input, p .. 'opts', c.opts,
                   p .. 'attempt', '1', p .. 'stc', c.stc, p .. 'hbt', c.hbt,
                   p .. 'sched', str(w.now), p .. 'deadline',
                   stc2 > 0 and str(w.now + stc2) or '0', p .. 'entry', entry)
        if stc2 > 0 then
            add_timer(w.k.timers, w.now + stc2,
                      timer_member('s', w.run, c.seq, 0, w.queue,
                                   queue_of(act), w.id))
        end
    end,
}

COMMANDS.timer = command{
    fields = {'seq', 'data', 'fire_in_ms'},
    apply = function(w, c)
        append(w, 'TimerStarted', c.data)
        add_timer(w.k.timers, w.now + (tonumber(c.fire_in_ms) or 0),
                  timer_member('t', w.run, c.seq, 0, w.queue, '-', w.id))
    end,
}

COMMANDS.cancel_timer = command{
    fields = {'seq', 'data'},
    apply = function(w, c)
        append(w, 'TimerCanceled', c.data)
        redis.call('ZREM', w.k.timers,
                   timer_member('t', w.run, c.seq, 0, w.queue, '-', w.id))
    end,
}

COMMANDS.marker = command{
    fields = {'data'},
    apply = function(w, c) append(w, 'MarkerRecorded', c.data) end,
}

COMMANDS.cancel_activity = command{
    fields = {'seq', 'data', 'key'},
    apply = function(w, c, keys)
        append(w, 'ActivityCancelRequested', c.data)
        abandon_activity(w, keys[c.key], c.seq)
    end,
}

-- closing commands: the event, then the run closes with `field` = value
local function closing(etype, status, field, value_field)
    return command{
        fields = {'data', value_field}, closes = true,
        apply = function(w, c)
            append(w, etype, c.data)
            close(w, status, field, c[value_field])
        end,
    }
end
COMMANDS.complete = closing('WorkflowCompleted', 'COMPLETED', 'result', 'result')
COMMANDS.fail = closing('WorkflowFailed', 'FAILED', 'failure', 'failure')
COMMANDS.cancel = closing('WorkflowCanceled', 'CANCELED', 'result', 'result')

-- check_commands validates a command list before anything is written;
-- activity keys must be among KEYS[minkey..nkeys]. Returns an error text
-- or nil, and whether a command closes the run.
local function check_commands(args, first, ncmd, minkey, nkeys)
    local i, closes = first, false
    for _ = 1, ncmd do
        local kind = COMMANDS[args[i]]
        if not kind then return 'unknown command ' .. tostring(args[i]) end
        closes = closes or kind.closes == true
        if kind.key_at then
            local ki = tonumber(args[i + kind.key_at])
            if not ki or ki < minkey or ki > nkeys then
                return 'activity key index out of range'
            end
        end
        i = i + 1 + kind.arity
        if i - 1 > #args then return 'truncated command list' end
    end
    return nil, closes
end

-- apply_commands writes each command's event and effect (checked before
-- any write by check_commands), up to the one that closes the run. Each
-- command is read into c by its field names (one table for the call: an
-- apply reads only its own kind's fields).
local function apply_commands(w, keys, args, first, ncmd)
    local i, c = first, {}
    for _ = 1, ncmd do
        local kind = COMMANDS[args[i]]
        local fields = kind.fields
        for j = 1, kind.arity do c[fields[j]] = args[i + j] end
        if kind.key_at then c.key = tonumber(c.key) end
        kind.apply(w, c, keys)
        i = i + 1 + kind.arity
        if w.status ~= 'RUNNING' then break end
    end
end

-- commit_task appends a workflow task's WorkflowTaskCompleted and command
-- events and applies the commands; returns the id of its last event.
local function commit_task(w, keys, args, first, ncmd, wtc)
    append(w, 'WorkflowTaskCompleted', wtc)
    apply_commands(w, keys, args, first, ncmd)
    return w.hlen
end

-- duro_wft_complete 8+A wf hist buf wft timers pa idx_open idx_closed
--                   act_1..act_A  run token entry wtc_data ncmd cmd...
-- The commands' activity streams are KEYS[9..8+A] (WFT_COMPLETE_KEYS + 1).
local WFT_COMPLETE_KEYS = 8
local function duro_wft_complete(k, args, keys)
    local run, token, entry, wtc = args[1], args[2], args[3], args[4]
    local ncmd = tonumber(args[5])
    if not (run and token and entry and wtc and ncmd) then
        return fail('DURO_BADARG', 'duro_wft_complete needs 5 arguments')
    end
    local w = load_wf(k)
    if not current(w, run) or w.token ~= token or w.wft ~= '1' then
        ack(k.wft, entry)
        return fail('DURO_STALE', 'workflow task token no longer current')
    end
    local bad, closes = check_commands(args, 6, ncmd, WFT_COMPLETE_KEYS + 1,
                                       #keys)
    if bad then return fail('DURO_BADARG', bad) end
    local wrong = closes and check_close(k)
    if wrong then return wrong end
    ack(k.wft, entry)
    local last = commit_task(w, keys, args, 6, ncmd, wtc)
    if w.status == 'RUNNING' then
        set(w, 'wft', '0')
        set(w, 'wft_entry', '')
        set(w, 'wft_error', '')
        if drain_buffer(w) > 0 then schedule_wft(w) end
    end
    return {last, w.hlen}
end

-- duro_wft_fail 5 wf hist buf wft timers  run token entry message backoff_ms
local function duro_wft_fail(k, args)
    local run, token, entry, msg = args[1], args[2], args[3], args[4]
    local backoff = tonumber(args[5]) or 0
    local w = load_wf(k)
    ack(k.wft, entry)
    if not current(w, run) or w.token ~= token or w.wft ~= '1' then
        return fail('DURO_STALE', 'workflow task token no longer current')
    end
    drain_buffer(w)
    local newtoken = next_token(w)
    local attempt = (tonumber(w.wft_attempt) or 1) + 1
    set(w, 'wft_attempt', str(attempt))
    set(w, 'wft_error', msg or '')
    if backoff < 0 then
        -- a failing task (bug, non-determinism, unknown type) must not spin
        -- the fleet: 1s, 2s, 4s ... up to a minute
        backoff = math.min(1000 * 2 ^ (attempt - 2), 60000)
    end
    if backoff <= 0 then
        enqueue_wft(w, newtoken)
    else
        set(w, 'wft_entry', '')
        add_timer(k.timers, w.now + backoff,
                  timer_member('w', run, newtoken, 0, w.queue, '-', w.id))
    end
    return 'ok'
end

-- duro_act_complete 9+A wf hist buf wft timers pa idx_open idx_closed act
--     act_1..act_A  run seq attempt entry outcome data retry_delay_ms
--     failure [expected_hlen wtc_data ncmd cmd...]
-- With the optional tail (an eager workflow task), a worker that holds the
-- run and applied this completion itself commits the resulting workflow
-- task in the same call: accepted only when no workflow task is outstanding
-- and the history is exactly expected_hlen events long, so nothing happened
-- that the worker did not see. Returns {"eager", last_event, hlen}; when
-- not accepted the completion is delivered as usual ("resolved").
-- The commands' activity streams are KEYS[10..9+A] (ACT_COMPLETE_KEYS + 1).
local ACT_COMPLETE_KEYS = 9
local function duro_act_complete(k, args, keys)
    local act = k.act
    local run, seq, attempt, entry, outcome, data = args[1], args[2],
        tonumber(args[3]), args[4], args[5], args[6]
    local delay = tonumber(args[7]) or -1
    local failure = args[8] or ''
    if not (run and seq and attempt and entry and data) or
        (outcome ~= 'completed' and outcome ~= 'failed') then
        return fail('DURO_BADARG', 'duro_act_complete arguments')
    end
    local w = load_wf(k)
    local st = w and current(w, run) and pa_state(w, seq)
    if st and tonumber(st.attempt) ~= attempt then st = nil end
    -- an eager commit that closes the run writes the indexes: checked
    -- before the ack, the call's first write
    local eager = false
    if st and outcome == 'completed' then
        local expected, ncmd = tonumber(args[9]), tonumber(args[11])
        if expected and ncmd and w.wft == '0' and w.hlen == expected then
            local bad, closes = check_commands(args, 12, ncmd,
                                               ACT_COMPLETE_KEYS + 1, #keys)
            local wrong = not bad and closes and check_close(k)
            if wrong then return wrong end
            eager = not bad
        end
    end
    ack(act, entry)
    if not st then
        return fail('DURO_STALE', 'activity attempt no longer current')
    end
    if outcome == 'completed' then
        if eager then
            resolve_activity(w, seq, 'ActivityCompleted', data, st, true)
            local last = commit_task(w, keys, args, 12, tonumber(args[11]),
                                     args[10])
            return {'eager', last, w.hlen}
        end
        resolve_activity(w, seq, 'ActivityCompleted', data, st)
        return 'resolved'
    end
    return retry_or_resolve(w, act, seq, attempt, delay, failure,
                            'ActivityFailed', data, st)
end

-- duro_act_release 9 wf hist buf wft timers pa idx_open idx_closed act
--                  run seq attempt entry
-- (idx_open and idx_closed unused)
-- A stopping worker hands back an attempt it will not finish: the same
-- attempt goes back to the queue at once instead of after its timeout.
-- Whichever run of it completes first wins; the other is fenced off.
local function duro_act_release(k, args)
    local act = k.act
    local run, seq, attempt, entry = args[1], args[2], tonumber(args[3]),
                                     args[4]
    local w = load_wf(k)
    local st = w and current(w, run) and pa_state(w, seq)
    if not st or tonumber(st.attempt) ~= attempt or st.entry ~= entry then
        ack(act, entry)
        return 'orphan'
    end
    ack(act, entry)
    enqueue_activity(w, act, seq, attempt)
    return 'released'
end

-- duro_act_heartbeat 6 wf hist buf wft timers pa  run seq attempt details
-- (hist, buf, wft and timers unused)
local function duro_act_heartbeat(k, args)
    local run, seq, attempt, details = args[1], args[2], tonumber(args[3]),
                                       args[4]
    local w = load_wf(k)
    if not current(w, run) or
        tonumber(pa_get(w, seq, 'attempt')) ~= attempt then
        return fail('DURO_STALE', 'activity attempt no longer current')
    end
    redis.call('HSET', k.pa, seq .. '.hb', str(w.now))
    if details and details ~= '' then
        redis.call('HSET', k.pa, seq .. '.details', details)
    end
    return 'ok'
end

-- duro_act_timeout 9 wf hist buf wft timers pa idx_open idx_closed act
--                  run seq attempt entry idle_ms retry_delay_ms
-- (idx_open and idx_closed unused)
local function duro_act_timeout(k, args)
    local act = k.act
    local run, seq, attempt, entry = args[1], args[2], tonumber(args[3]),
                                     args[4]
    local idle = tonumber(args[5]) or 0
    local delay = tonumber(args[6]) or -1
    local w = load_wf(k)
    local st = w and current(w, run) and seq and pa_state(w, seq)
    if not st or tonumber(st.attempt) ~= attempt or st.entry ~= entry then
        ack(act, entry)
        return 'orphan'
    end
    local v = redis.call('HMGET', k.pa, seq .. '.stc', seq .. '.hbt',
                         seq .. '.hb')
    local stc, hbt, hb = tonumber(v[1]) or 0, tonumber(v[2]) or 0,
                         tonumber(v[3]) or 0
    local started = w.now - idle
    local kind
    if stc > 0 and idle >= stc then
        kind = 'START_TO_CLOSE'
    elseif hbt > 0 and w.now - math.max(started, hb) >= hbt then
        kind = 'HEARTBEAT'
    else
        return 'alive'
    end
    ack(act, entry)
    retry_or_resolve(w, act, seq, attempt, delay, timeout_failure(kind),
                     'ActivityTimedOut', timed_out_data(seq, attempt, kind), st)
    return 'timedout'
end

-- duro_wft_timeout 5 wf hist buf wft timers  run token entry idle_ms
-- (hist and buf unused)
-- One timeout is routine (a worker restarted, a pod moved): the task is
-- re-enqueued at once. A task that times out again and again most likely
-- kills the worker that runs it (a crash in workflow code), and would kill
-- every worker of its queue in turn. So the timeouts in a row are counted,
-- in wft_timeouts as "<count>:<token>", and from the second one the task
-- comes back after 1s, 2s, 4s ... up to 10 minutes, through a 'w' timer,
-- while the rest of the queue moves on. The count goes on only while the
-- token is the one the last timeout issued: a commit, a failed task or a
-- new task each issue another, which starts it over.
local WFT_TIMEOUT_BACKOFF_MAX = 600000
local function duro_wft_timeout(k, args)
    local run, token, entry = args[1], args[2], args[3]
    local idle = tonumber(args[4]) or 0
    local w = load_wf(k)
    if not current(w, run) or w.token ~= token or w.wft_entry ~= entry then
        ack(k.wft, entry)
        return 'orphan'
    end
    if idle < (tonumber(w.wft_timeout) or 10000) then return 'alive' end
    ack(k.wft, entry)
    local prev = redis.call('HGET', k.wf, 'wft_timeouts') or ''
    local n, at = string.match(prev, '^(%d+):(%d+)$')
    local count = (at == token) and tonumber(n) + 1 or 1
    local newtoken = next_token(w)
    set(w, 'wft_timeouts', str(count) .. ':' .. newtoken)
    set(w, 'wft_attempt', str((tonumber(w.wft_attempt) or 1) + 1))
    if count == 1 then
        set(w, 'wft_error', 'workflow task timed out; the worker running ' ..
            'it may have crashed')
        enqueue_wft(w, newtoken)
        return 'timedout'
    end
    local backoff = math.min(1000 * 2 ^ (count - 2), WFT_TIMEOUT_BACKOFF_MAX)
    set(w, 'wft_error', 'workflow task timed out ' .. str(count) ..
        ' times in a row; the worker running it may have crashed; retry in ' ..
        str(backoff / 1000) .. 's')
    set(w, 'wft_entry', '')
    add_timer(k.timers, w.now + backoff,
              timer_member('w', run, newtoken, 0, w.queue, '-', w.id))
    return 'timedout'
end

-- duro_timer_fire 9 wf hist buf wft timers pa idx_open idx_closed act  member
local function duro_timer_fire(k, args)
    local act = k.act
    local member = args[1]
    -- the scheduler's idea of Redis time may run a millisecond ahead; the
    -- history must never show a timer firing before it was due
    local due = redis.call('ZSCORE', k.timers, member)
    if not due then return 'gone' end
    local now = now_ms()
    if tonumber(due) > now then return 'early' end
    local m = parse_member(member)
    local w = m and load_wf(k, now)
    if not m or not current(w, m.run) then
        redis.call('ZREM', k.timers, member)
        return 'ignored'
    end
    local bad
    if m.kind == 'r' or m.kind == 's' then
        bad = check_types({act}, {'stream'})
    elseif m.kind == 'x' then
        bad = check_close(k)
    end
    if bad then return bad end
    -- validated: the timer goes with the writes it causes, never before
    redis.call('ZREM', k.timers, member)
    if m.kind == 't' then
        deliver(w, 'TimerFired', '{"seq":' .. m.a .. '}')
    elseif m.kind == 'r' then
        local st = pa_state(w, m.a)
        if st.attempt ~= m.b or st.entry ~= '' then return 'ignored' end
        enqueue_activity(w, act, m.a, m.b)
    elseif m.kind == 's' then
        local st = pa_state(w, m.a)
        if not st.attempt then return 'ignored' end
        ack(act, st.entry)
        resolve_activity(w, m.a, 'ActivityTimedOut',
                         timed_out_data(m.a, st.attempt, 'SCHEDULE_TO_CLOSE'), st)
    elseif m.kind == 'w' then
        if w.token ~= m.a or w.wft_entry ~= '' then return 'ignored' end
        enqueue_wft(w, m.a)
    elseif m.kind == 'x' then
        append(w, 'WorkflowTimedOut', '{}')
        close(w, 'TIMED_OUT', 'failure',
              '{"message":"workflow execution timed out","type":"TimeoutError","nonRetryable":true}')
    else
        return 'ignored'
    end
    return 'fired'
end

-- duro_terminate 8 wf hist buf wft timers pa idx_open idx_closed  data
-- (wft unused)
local function duro_terminate(k, args)
    local data = args[1] or '{}'
    local w = load_wf(k)
    if not w then return fail('DURO_NOT_FOUND', 'no such workflow') end
    if w.status ~= 'RUNNING' then
        return fail('DURO_NOT_RUNNING', w.status)
    end
    if not current(w, w.run) then
        return fail('DURO_STALE', 'run changed, retry')
    end
    local ok, d = pcall(cjson.decode, data)
    local reason = ok and type(d) == 'table' and type(d.reason) == 'string'
                       and d.reason or 'terminated'
    terminate_run(w, data, reason)
    return 'ok'
end

redis.register_function{function_name = 'duro_version',
                        callback = duro_version,
                        flags = {'no-writes'}}

-- Each Function's key contract (see contract): its prefix of KEY_ORDER,
-- the keys of it that it ignores, the ones txn TYPE-checks before the
-- body; the others are checked by the body before its first write (wf
-- and the run's history by load_wf; pa where read first), only deleted
-- (buf, pa, the new run's history when a run closes or starts), or
-- checked only when the call closes the run (the indexes, check_close).
local S = 'stream'
local DELIVER = {keys = 4, check = {'buf', 'wft'}}
-- buf and pa: DEL'd by a start; hist_cur: read by load_wf
local START = {keys = 8, check = {'wft', 'timers', 'idx_open', 'idx_closed'},
               extra = {'hist_cur'}}
-- act_release, act_timeout
local ACT_ATTEMPT = {keys = 9, unused = {'idx_open', 'idx_closed'},
                     check = {'buf', 'wft', 'timers', 'pa', 'act'}}

redis.register_function('duro_start', txn(duro_start, START))
redis.register_function('duro_wft_complete', txn(duro_wft_complete, {
    keys = WFT_COMPLETE_KEYS, check = {'buf', 'wft', 'timers', 'pa'},
    rest = S}))
redis.register_function('duro_wft_fail', txn(duro_wft_fail, {
    keys = 5, check = {'buf', 'wft', 'timers'}}))
-- pa: read (pa_state) before the first write
redis.register_function('duro_act_complete', txn(duro_act_complete, {
    keys = ACT_COMPLETE_KEYS, check = {'buf', 'wft', 'timers', 'act'},
    rest = S}))
redis.register_function('duro_act_heartbeat', txn(duro_act_heartbeat, {
    keys = 6, unused = {'hist', 'buf', 'wft', 'timers'}, check = {'pa'}}))
redis.register_function('duro_act_release', txn(duro_act_release, ACT_ATTEMPT))
redis.register_function('duro_act_timeout', txn(duro_act_timeout, ACT_ATTEMPT))
redis.register_function('duro_wft_timeout', txn(duro_wft_timeout, {
    keys = 5, unused = {'hist', 'buf'}, check = {'wf', 'wft', 'timers'}}))
-- act is checked by the body: a stream only for r and s timers
redis.register_function('duro_timer_fire', txn(duro_timer_fire, {
    keys = 9, check = {'buf', 'wft', 'timers', 'pa'}}))
redis.register_function('duro_terminate', txn(duro_terminate, {
    keys = 8, unused = {'wft'}, check = {'timers', 'idx_open', 'idx_closed'}}))
redis.register_function('duro_signal', txn(duro_signal, DELIVER))
-- buf: a running run is signaled (RPUSH while a task is outstanding)
redis.register_function('duro_signal_with_start',
                        txn(duro_signal_with_start, {
    keys = 8, check = {'buf', 'wft', 'timers', 'idx_open', 'idx_closed'},
    extra = {'hist_cur'}}))
redis.register_function('duro_cancel', txn(duro_cancel, DELIVER))

-- ---- Schedules -----------------------------------------------------------
-- A schedule (docs/internals.md "Schedules") lives in the partition of its
-- id: the hash sched (spec, action, policies, state), its last actions
-- (list acts), its requests (list req: "T<ms>" trigger, "B<a>:<b>"
-- backfill), the partition's set of schedule ids (scheds), and one timer
-- 'c|-|0|0|-|-|<id>' in timers. The scheduler computes the times (cron,
-- time zones, policies) in C; these Functions only store what it decided,
-- atomically, fenced by a claim token.

local SCHED_ACTIONS_KEPT = 10

local function sched_member(id)
    return timer_member('c', '-', 0, 0, '-', '-', id)
end

-- sched_numbers: nil when every args[i] of idx is a number ('-' too
-- where dash[i]), else an error reply naming the first that is not:
-- checked before the first write (see the rules at the top).
local function sched_numbers(args, idx, dash)
    for n = 1, #idx do
        local v = args[idx[n]]
        if not tonumber(v) and not (dash and v == '-') then
            return fail('DURO_BADARG', 'argument ' .. idx[n] .. ' is not a number')
        end
    end
    return nil
end

-- sched_checked wraps fn to check its KEYS' types first.
local function sched_checked(fn, types)
    return function(keys, args)
        local bad = check_types(keys, types)
        if bad then return bad end
        return fn(keys, args)
    end
end

-- duro_sched_upsert 5 sched acts req timers scheds  id mode due field value ...
-- mode create (DURO_ALREADY_STARTED if the id is taken) or update
-- (DURO_NOT_FOUND if absent; the others too): writes the fields (spec, action,
-- policies, next_nominal), bumps `rev` (a fire in flight computed with the
-- old spec then leaves the timer alone) and puts the timer at `due` ('-':
-- none, paused). State (counts, running, buffer, actions) survives update.
local function duro_sched_upsert(keys, args)
    local sched, timers, scheds = keys[1], keys[4], keys[5]
    local id, mode, due = args[1], args[2], args[3]
    if (mode ~= 'create' and mode ~= 'update') or (#args - 3) % 2 ~= 0 then
        return fail('DURO_BADARG', 'mode or fields')
    end
    local bad = sched_numbers(args, {3}, true)
    if bad then return bad end
    local exists = redis.call('EXISTS', sched) == 1
    if mode == 'create' and exists then return fail('DURO_ALREADY_STARTED', 'schedule ' .. id .. ' exists') end
    if mode == 'update' and not exists then
        return fail('DURO_NOT_FOUND', 'schedule ' .. id)
    end
    local now = now_ms()
    local hset = {sched}
    for i = 4, #args do hset[#hset + 1] = args[i] end
    hset[#hset + 1] = 'updated_ms'
    hset[#hset + 1] = str(now)
    if mode == 'create' then
        local init = {'created_ms', str(now), 'missed', '0', 'skipped', '0',
                      'actions', '0', 'running', '', 'buffer', ''}
        for i = 1, #init do hset[#hset + 1] = init[i] end
    end
    redis.call('HSET', unpack(hset))
    redis.call('HINCRBY', sched, 'rev', 1)
    redis.call('SADD', scheds, id)
    if due == '-' then
        redis.call('ZREM', timers, sched_member(id))
    else
        add_timer(timers, tonumber(due), sched_member(id))
    end
    return 'ok'
end

-- duro_sched_pause 2 sched timers  id paused note next_nominal due
-- paused '1': no timer (a trigger still adds one); '0': the timer at due,
-- next_nominal from now on (times passed while paused are not acted on).
local function duro_sched_pause(keys, args)
    local sched, timers = keys[1], keys[2]
    local id, paused, note = args[1], args[2], args[3]
    local bad = sched_numbers(args, {4, 5}, true)
    if bad then return bad end
    if redis.call('EXISTS', sched) == 0 then
        return fail('DURO_NOT_FOUND', 'schedule ' .. id)
    end
    redis.call('HSET', sched, 'paused', paused, 'note', note)
    -- a fire in flight planned with the old state: it must not write
    -- next_nominal or the timer over these
    redis.call('HINCRBY', sched, 'rev', 1)
    if paused == '1' then
        redis.call('ZREM', timers, sched_member(id))
    else
        redis.call('HSET', sched, 'next_nominal', args[4])
        if args[5] ~= '-' then
            add_timer(timers, tonumber(args[5]), sched_member(id))
        end
    end
    return 'ok'
end

-- duro_sched_request 3 sched req timers  id kind [start_ms end_ms]
-- kind trigger (an action now, by the overlap policy) or backfill (every
-- nominal time in [start, end]): queued for the scheduler.
local function duro_sched_request(keys, args)
    local sched, req, timers = keys[1], keys[2], keys[3]
    local id, kind = args[1], args[2]
    if redis.call('EXISTS', sched) == 0 then
        return fail('DURO_NOT_FOUND', 'schedule ' .. id)
    end
    local now = now_ms()
    if kind == 'trigger' then
        redis.call('RPUSH', req, 'T' .. str(now))
    elseif kind == 'backfill' and tonumber(args[3]) and tonumber(args[4]) then
        redis.call('RPUSH', req, 'B' .. args[3] .. ':' .. args[4])
    else
        return fail('DURO_BADARG', 'kind')
    end
    -- a fire in flight (claimed, its lease not over) looks at the
    -- requests before it ends; otherwise (none, paused, or a claimant
    -- that died) the timer is due now
    local member = sched_member(id)
    local score = redis.call('ZSCORE', timers, member)
    if not (redis.call('HGET', sched, 'claim') and score and
            tonumber(score) > now) then
        add_timer(timers, now, member)
    end
    return 'ok'
end

-- duro_sched_delete 5 sched acts req timers scheds  id
local function duro_sched_delete(keys, args)
    local id = args[1]
    if redis.call('EXISTS', keys[1]) == 0 then
        return fail('DURO_NOT_FOUND', 'schedule ' .. id)
    end
    redis.call('DEL', keys[1], keys[2], keys[3])
    redis.call('ZREM', keys[4], sched_member(id))
    redis.call('SREM', keys[5], id)
    return 'ok'
end

-- duro_sched_claim 3 sched req timers  id lease_ms
-- A due schedule timer is claimed by one scheduler: the timer moves to
-- now + lease (if that scheduler dies, another claims it then) and a new
-- token fences the fire. Returns 'gone', 'early', or
-- {'claimed', token, now, {hash field, value, ...}, {request, ...}}.
local function duro_sched_claim(keys, args)
    local sched, req, timers = keys[1], keys[2], keys[3]
    local id, lease = args[1], tonumber(args[2])
    if not lease then return fail('DURO_BADARG', 'lease') end
    local member = sched_member(id)
    local score = redis.call('ZSCORE', timers, member)
    if not score then return 'gone' end
    local now = now_ms()
    if tonumber(score) > now then return 'early' end
    if redis.call('EXISTS', sched) == 0 then
        redis.call('ZREM', timers, member)
        return 'gone'
    end
    local token = str(now) .. '-' .. redis.call('HINCRBY', sched, 'claims', 1)
    redis.call('HSET', sched, 'claim', token)
    redis.call('ZADD', timers, str(now + lease), member)
    return {'claimed', token, str(now), redis.call('HGETALL', sched),
            redis.call('LRANGE', req, 0, 99)}
end

-- duro_sched_fire 4 sched acts req timers  id token rev next_nominal due
--     running buffer missed skipped nactions nreq requeue action...
-- Records what the scheduler did for a claim: 'stale' (nothing written)
-- unless `token` is the schedule's claim. Adds the counts, stores running
-- and buffer, drops the nreq requests handled (and queues `requeue`, the
-- rest of a backfill, first), keeps the last actions. When the spec did
-- not change since the claim (`rev`) it stores next_nominal and puts the
-- timer at due ('-': none); requests left make it due now, a pause
-- removes it.
local function duro_sched_fire(keys, args)
    local sched, acts, req, timers = keys[1], keys[2], keys[3], keys[4]
    local id, token, rev = args[1], args[2], args[3]
    local bad = sched_numbers(args, {4, 8, 9, 10, 11}) or
                    sched_numbers(args, {5}, true)
    if bad then return bad end
    if redis.call('HGET', sched, 'claim') ~= token then return 'stale' end
    local now = now_ms()
    redis.call('HDEL', sched, 'claim')
    redis.call('HSET', sched, 'running', args[6], 'buffer', args[7],
               'last_fire_ms', str(now))
    redis.call('HINCRBY', sched, 'missed', tonumber(args[8]))
    redis.call('HINCRBY', sched, 'skipped', tonumber(args[9]))
    redis.call('HINCRBY', sched, 'actions', tonumber(args[10]))
    local nreq, requeue = tonumber(args[11]), args[12]
    if nreq > 0 then redis.call('LTRIM', req, nreq, -1) end
    if requeue ~= '' then redis.call('LPUSH', req, requeue) end
    for i = 13, #args do
        redis.call('LPUSH', acts, args[i])
    end
    redis.call('LTRIM', acts, 0, SCHED_ACTIONS_KEPT - 1)
    local member = sched_member(id)
    local due = nil
    if redis.call('HGET', sched, 'rev') == rev then
        redis.call('HSET', sched, 'next_nominal', args[4])
        if args[5] ~= '-' then due = tonumber(args[5]) end
    else
        due = tonumber(redis.call('ZSCORE', timers, member))
    end
    if redis.call('HGET', sched, 'paused') == '1' then due = nil end
    if redis.call('LLEN', req) > 0 then due = now end
    if due then
        add_timer(timers, due, member)
    else
        redis.call('ZREM', timers, member)
    end
    return 'fired'
end

local SCHED_KEYS = {'hash', 'list', 'list', 'zset', 'set'}
redis.register_function('duro_sched_upsert',
                        sched_checked(duro_sched_upsert, SCHED_KEYS))
redis.register_function('duro_sched_pause',
                        sched_checked(duro_sched_pause, {'hash', 'zset'}))
redis.register_function('duro_sched_request', sched_checked(
    duro_sched_request, {'hash', 'list', 'zset'}))
redis.register_function('duro_sched_delete',
                        sched_checked(duro_sched_delete, SCHED_KEYS))
redis.register_function('duro_sched_claim', sched_checked(
    duro_sched_claim, {'hash', 'list', 'zset'}))
redis.register_function('duro_sched_fire', sched_checked(
    duro_sched_fire, {'hash', 'list', 'list', 'zset'}))
