#!lua name=duro
-- duro.lua: every state change of Duro, one Function call each.
--
-- The data model and each Function's keys and arguments are documented in
-- docs/internals.md. Rules every Function follows:
--  * all keys come from KEYS and share one partition's hash tag, but for
--    the visibility rows and indexes, derived from the workflow hash's key
--    in the same slot (see Visibility);
--  * user payloads (inputs, results, event data) are never decoded here,
--    only stored and concatenated, so no JSON number ever loses precision;
--    search attributes are decoded to be typed and indexed (an Int beyond
--    2^53 loses precision);
--  * a Function validates first and writes after, so an error leaves
--    nothing half done (Redis does not roll back a Function that fails
--    halfway): each is registered with the type of each of its KEYS,
--    which txn checks before calling it, but for keys the Function reads
--    before its first write or only deletes (check_types); a key of
--    another type answers DURO_WRONGTYPE. load_wf refuses a history with
--    events past its length (DURO_CORRUPT), where the first XADD would
--    fail. Out of memory needs no check: Redis refuses a Function that may
--    write before it starts (no allow-oom flag) and never stops one midway;
--  * time is Redis' own (TIME), read by now_ms alone (the test clock's seam).

-- Lua allows a function (this chunk too) 200 locals in scope at once: a
-- section whose helpers only its own Functions use sits in a do ... end
-- block that registers them (crossing partitions, schedules, flow
-- control), or that assigns its Functions to locals declared before it
-- (visibility reads), so that its locals end with it.
local DURO_LIBRARY_VERSION = 70
local GROUP = 'duro'
-- SHARDED_WAKE: true in the copy loaded on a Redis Cluster
-- (duro_lua_library_source): a Function that adds a task also SPUBLISHes
-- to the partition's wake channel, since no worker can block on every
-- partition's streams at once there. The loader flips this very text.
local SHARDED_WAKE = false
-- WAKE_WORKERS: Functions that add a task SPUBLISH a wake-up for the
-- workers reading per partition (wake_workers): on a cluster, and on one
-- Redis whose workers read so to test it (DURO_READ_PER_PARTITION=1: the
-- worker flips this line alone, so that clients keep the classic
-- channels there).
local WAKE_WORKERS = SHARDED_WAKE

-- ---- Helpers -------------------------------------------------------------

-- str: an integer as text. '%d' (a C long) is exact for an integer below
-- 2^53 and costs half of '%.0f' (glibc's floating-point printf, ~2,200
-- instructions); 0..1023 (tokens, attempts, history lengths) are formatted
-- once per server and kept (STR). A fraction, inf or nan keep '%.0f'.
local str
do
    local STR = {}
    str = function(n)
        local s = STR[n]
        if s then return s end
        if n % 1 ~= 0 or n <= -9007199254740992 or n >= 9007199254740992 then
            return string.format('%.0f', n)
        end
        s = string.format('%d', n)
        if n >= 0 and n < 1024 then STR[n] = s end
        return s
    end
end

-- num: tonumber of a value the hot Functions parse again and again (the
-- arguments' counts, indexes, attempts and timeouts, a history length),
-- kept once parsed: tonumber runs strtod (~500 instructions for "1"), a
-- table read costs a tenth. What is kept is bounded (4,096 values of at
-- most 24 bytes: the Lua state outlives the call and maxmemory does not
-- count it, and a number's text can be padded with spaces or zeros to any
-- length by a caller); a value that is no number (or NaN) or a longer
-- text is parsed each time.
local num
do
    local NUM, kept = {}, 0
    num = function(v)
        local n = NUM[v]
        if n then return n end
        n = tonumber(v)
        if n and n == n and kept < 4096 and
            (type(v) ~= 'string' or #v <= 24) then
            NUM[v] = n
            kept = kept + 1
        end
        return n
    end
end

-- now_ms: Redis' clock, the only one a Function reads. The marker below is
-- the test clock's seam: the time-skipping test environment (testing/)
-- loads the library with it replaced by its virtual clock's offset, into a
-- private redis-server; loaded as it is, it costs nothing. Keep it there.
local function now_ms()
    local t = redis.call('TIME')
    -- TIME's two numerals, read by arithmetic (one strtod each; tonumber
    -- runs two)
    return t[1] * 1000 + math.floor(t[2] / 1000) --[[+test clock]]
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

-- CHECKED maps each key the current call has found to be of a type (or
-- absent) to that type: by a read (read, history_len), an ack (ack_first)
-- or a TYPE (check_types). check_types skips a key found to be the type
-- it wants, so that a call never asks twice; txn empties it per call.
local CHECKED = {}

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
    CHECKED[key] = want
    return r
end

-- kept: fn (of one string, whose result depends on it alone) with its
-- results kept per argument: the hot Functions ask the same questions of
-- the same keys and options call after call (a stream's queue, its
-- level's base, an activity's options), and a table read costs a tenth
-- of the pattern or finds that answer them. Bounded as num's cache is
-- (the Lua state outlives the call and maxmemory does not count it): at
-- most `most` texts of at most 256 bytes; others are answered each time.
local function kept(fn, most)
    local KEPT, n = {}, 0
    return function(s)
        local r = KEPT[s]
        if r ~= nil then return r or nil end
        r = fn(s)
        if n < most and #s <= 256 then
            KEPT[s] = r or false
            n = n + 1
        end
        return r
    end
end

local function partition_of(key)
    return string.match(key, '{p(%d+)}') or '0'
end

-- prefix_of: the namespace's key prefix ("duro:" for default,
-- "duro:ns:<name>:" for another; a name never holds ':' or '{').
local function prefix_of(key)
    return string.match(key, '^(.-){p%d+}') or 'duro:'
end

-- wake_message: what duro:wake carries for key's partition: its number,
-- then ":<namespace>" outside the default namespace.
local function wake_message(key)
    local ns = string.match(prefix_of(key), '^duro:ns:([^:]+):$')
    return partition_of(key) .. (ns and (':' .. ns) or '')
end

-- queue_of: what follows a task stream key's kind ("<prefix>{pN}:act:"),
-- kept (an unanchored pattern is tried at every position of the key).
local queue_of = kept(function(stream_key)
    return string.match(stream_key, '}:[a-z]+:(.*)$')
end, 4096)

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
        redis.call('PUBLISH', 'duro:wake', wake_message(timers))
    end
end

-- Task streams are trimmed, not deleted from one entry at a time
-- (docs/internals.md, "Trimming task streams"): XDEL of the oldest entry
-- walks its stream node from the start over the entries deleted before
-- it, and every redis.call costs a Function microseconds. After one ack in
-- TRIM_EVERY (by the entry's id), XTRIM MINID ~ drops the stream's nodes
-- before the group's first pending entry: a group reads in id order, so
-- every entry before the first pending one was delivered and acked; with
-- none pending, the nodes before the entry just acked. An entry pending
-- for long holds that point back: the scheduler deletes the acked entries
-- behind it (scheduler/src/trim.c). A worker's sticky stream, which no
-- scheduler scans, and an entry that was not pending (never delivered: a
-- task taken back from its queue; or acked already, so that no worker
-- reads it) are deleted one by one as before.
local ack_trim
do
    local TRIM_EVERY = 8
    local byte = ('').byte

    -- low3: the number the last (up to) three digits of s[i..j] write:
    -- (ms + seq) % 8 is (low3(ms) + low3(seq)) % 8, as 1000 is a multiple
    -- of 8, read with one string.byte instead of two string.sub and two
    -- strtod of the whole id (~6k instructions)
    local function low3(s, i, j)
        local a, b, c = byte(s, j - 2 < i and i or j - 2, j)
        if c then return (a - 48) * 100 + (b - 48) * 10 + c - 48 end
        if b then return (a - 48) * 10 + b - 48 end
        return a - 48
    end

    ack_trim = function(stream, entry, acked)
        if acked == 0 or string.find(stream, '#', 1, true) then
            redis.call('XDEL', stream, entry)
            return
        end
        -- the XACK took entry, so it is an id: <ms>-<seq> (or <ms>),
        -- digits only, neither part empty
        local dash = string.find(entry, '-', 1, true)
        local n = dash and
                      low3(entry, 1, dash - 1) + low3(entry, dash + 1, #entry)
        if (n or 0) % TRIM_EVERY ~= 0 then return end
        local first = redis.call('XPENDING', stream, GROUP, '-', '+', 1)[1]
        redis.call('XTRIM', stream, 'MINID', '~', first and first[1] or entry)
    end
end

-- now_str: the call's time as text, formatted once per context (a
-- string.format costs as much as a small Redis command).
local function now_str(w)
    local t = w.nows
    if not t then
        t = str(w.now)
        w.nows = t
    end
    return t
end

-- ---- Leased activity attempts (docs/internals.md, "Eager activity
-- dispatch") ----
--
-- An attempt that a commit hands its own worker (eager dispatch, when the
-- worker asks for leases) is recorded as started by that worker instead
-- of going through the queue's stream: its state's entry is a lease,
-- `L<started ms>-<seq>-<attempt>` (a stream id is digits, `<ms>-<seq>`, so no
-- entry of a stream has this form), and the partition's timers hold an
-- `l` timer at its start-to-close (or heartbeat) deadline, which times the
-- attempt out as the reclaim of an idle stream entry does (TASK.plan).
-- The paths that ack an attempt's entry leave a lease alone (ack,
-- ack_first): the lease is not in any stream.
local LEASE = {}
do
    local byte = ('').byte
    -- LEASE.is: whether entry (a string or nil) is a lease
    LEASE.is = function(entry)
        return entry ~= nil and byte(entry, 1) == 76 -- 'L'
    end
    -- LEASE.entry: the lease of activity seq's attempt started at w.now
    -- (seq: distinct within a reply, as the ids of a stream's entries);
    -- the time as the call's events write it (now_str)
    LEASE.entry = function(w, seq, attempt)
        return 'L' .. now_str(w) .. '-' .. seq .. '-' .. attempt
    end
    -- LEASE.started: when the leased attempt started (ms), nil when entry
    -- is no lease
    LEASE.started = function(entry)
        return tonumber(string.match(entry, '^L(%d+)%-'))
    end
    -- LEASE.due: when a leased attempt started at `started` times out, its
    -- last heartbeat at hb (0: none): the earlier of its start-to-close and
    -- its heartbeat timeout (ms; 0 = none), nil when it has neither
    LEASE.due = function(started, stc, hbt, hb)
        local due
        if stc > 0 then due = started + stc end
        if hbt > 0 then
            local h = math.max(started, hb) + hbt
            if not due or h < due then due = h end
        end
        return due
    end
    -- LEASE.member: the `l` timer of run w's leased attempt of activity
    -- seq, its queue actq as recorded
    LEASE.member = function(w, seq, attempt, actq)
        return timer_member('l', w.run, seq, attempt, w.queue, actq, w.id)
    end
    -- LEASE.drop: a stale call's (the run closed or moved on) removal of
    -- the l timer of run's attempt of seq it answers for, when entry is a
    -- lease (w loaded, the workflow's): as a stale call acks its stream
    -- entry, so that nothing waits on a finished attempt (the test
    -- clock's idle check counts every l timer as a running attempt)
    LEASE.drop = function(w, run, seq, attempt, entry, actq)
        if not (w and LEASE.is(entry)) then return end
        redis.call('ZREM', w.k.timers, timer_member('l', run, seq, str(attempt),
                                                    w.queue, actq, w.id))
    end
    -- LEASE.drop_first is LEASE.drop as a call's first write, as ack_first
    -- is the ack: a timers key of another type fails the ZREM before
    -- anything is written and raises DURO_WRONGTYPE, so the call needs no
    -- TYPE of timers (duro_act_complete: whether current or stale).
    -- Returns whether it ran (a lease and w).
    LEASE.drop_first = function(w, run, seq, attempt, entry, actq)
        if not (w and LEASE.is(entry)) then return false end
        local r = redis.pcall('ZREM', w.k.timers,
                              timer_member('l', run, seq, str(attempt),
                                           w.queue, actq, w.id))
        if type(r) == 'table' and r.err then
            if string.find(r.err, 'WRONGTYPE', 1, true) then
                wrongtype(w.k.timers, 'zset')
            end
            error(r)
        end
        CHECKED[w.k.timers] = 'zset'
        return true
    end
    -- A commit that closes the run (or continues it as new) asks for no
    -- leases (its callers): its activities go to the stream, as with no
    -- lease, where a worker runs them and its stale completion acks
    -- them; a lease would not be handed out (eager_take: the run is
    -- closed) and its l timer, which the test clock counts as running,
    -- would wait for its start-to-close.
    -- LEASE.ask: a commit's request for leases, in its eager tail
    -- (consumer at args[at], then `L<n>`, then the eligible KEYS indexes):
    -- w.lease = {n = how many are left to plan, args, from = the first
    -- index's position, the plan (LEASE.plan): at = the leased commands'
    -- positions in args, due = their leases' deadlines, np = how many,
    -- nt = the next LEASE.take looks for; got = the leases made, 6 slots
    -- each: stream, entry, and the command's seq, name, input, opts}. A
    -- count of another form asks for none (eager_take reads it).
    -- count_of: the number of leases `L<n>` asks for, nil for another
    -- form (kept: a worker asks with the same few texts call after call)
    local count_of = kept(function(v)
        return byte(v, 1) == 76 and tonumber(string.match(v, '^L(%d+)$'))
    end, 256)
    -- ASKED: the one w.lease of a call (a commit asks once per call),
    -- refilled rather than made anew: two tables made and collected per
    -- commit cost ~2k instructions. got holds ngot slots of this call's
    -- leases (the rest: an earlier call's, never read); eager_take lets
    -- go of what would keep a call's payloads alive past it (args, each
    -- lease's input). at and due hold np slots of this call's plan (at
    -- most 64: n's cap).
    local ASKED = {n = 0, args = false, from = 0, got = {}, ngot = 0,
                   at = {}, due = {}, np = 0, nt = 1}
    LEASE.ask = function(w, args, at)
        local consumer, n = args[at], args[at + 1]
        n = n and count_of(n)
        if not consumer or consumer == '' or not n or n < 1 then return end
        local l = ASKED
        l.n, l.args, l.from, l.ngot = math.min(n, 64), args, at + 2, 0
        l.np, l.nt = 0, 1
        w.lease = l
    end
    -- LEASE.take: the lease of activity command c's first attempt, for
    -- stream act (its level's; never a fair one), when the check phase
    -- planned one for it (LEASE.plan, by c.at, its position in the
    -- arguments: apply_commands applies the commands in the plan's
    -- order); nil when it goes to the stream.
    -- The l timer is a plain ZADD: no wake-up (the scheduler's scan
    -- finds it, as sticky timers).
    LEASE.take = function(w, c, act)
        local l = w.lease
        local j, at, np = l.nt, l.at, l.np
        while j <= np and at[j] < c.at do j = j + 1 end
        if j > np or at[j] ~= c.at then
            l.nt = j
            return nil
        end
        l.nt = j + 1
        local due = l.due[j]
        local entry = LEASE.entry(w, c.seq, '1')
        redis.call('ZADD', w.k.timers, str(due),
                   LEASE.member(w, c.seq, '1', queue_of(act)))
        -- c's fields copied: apply_commands loads every command into one
        -- table
        local got, n = l.got, l.ngot
        got[n + 1], got[n + 2], got[n + 3], got[n + 4], got[n + 5],
            got[n + 6] = act, entry, c.seq, c.name, c.input, c.opts
        l.ngot = n + 6
        return entry
    end
end

local function ack(stream, entry)
    if entry and entry ~= '' and not LEASE.is(entry) then
        ack_trim(stream, entry, redis.call('XACK', stream, GROUP, entry))
    end
end

-- ack_first is ack as a call's first write: a key of another type fails
-- the XACK before anything is written and answers DURO_WRONGTYPE, as a
-- TYPE check would, so the stream needs no TYPE of its own. Returns
-- whether it acked (an empty entry writes nothing and checks nothing).
-- An entry that is no stream id (a caller's, or a task token's, damaged)
-- answers DURO_BADARG naming it and the stream, where XACK's own error
-- names neither; checked on XACK's failure alone, free when it acks.
local function ack_first(stream, entry)
    if not entry or entry == '' or LEASE.is(entry) then return false end
    local r = redis.pcall('XACK', stream, GROUP, entry)
    if type(r) == 'table' and r.err then
        if string.find(r.err, 'WRONGTYPE', 1, true) then
            wrongtype(stream, 'stream')
        end
        if string.find(r.err, 'Invalid stream ID', 1, true) then
            error({err = 'DURO_BADARG entry ' .. string.sub(entry, 1, 64) ..
                       ' of ' .. stream .. ': not a stream id'})
        end
        error(r)
    end
    CHECKED[stream] = 'stream'
    ack_trim(stream, entry, r)
    return true
end

-- ---- History encoding ----------------------------------------------------

-- EVENT_CODE: the two-letter code stored for each event type (the C
-- decoder's table in common/src/history.c; fixed forever). A type without
-- one is stored by its name, which decoders accept too.
local EVENT_CODE = {
    WorkflowStarted = 'WS',
    WorkflowTaskCompleted = 'WT',
    ActivityScheduled = 'AS',
    ActivityCompleted = 'AC',
    ActivityFailed = 'AF',
    ActivityTimedOut = 'AO',
    ActivityCancelRequested = 'AR',
    ActivityCanceled = 'AX',
    TimerStarted = 'TS',
    TimerFired = 'TF',
    TimerCanceled = 'TX',
    SignalReceived = 'SR',
    MarkerRecorded = 'MR',
    CancelRequested = 'CR',
    WorkflowCompleted = 'WC',
    WorkflowFailed = 'WF',
    WorkflowCanceled = 'WX',
    WorkflowTerminated = 'WE',
    WorkflowTimedOut = 'WO',
    WorkflowContinuedAsNew = 'WN',
    UpdateAccepted = 'UA',
    UpdateCompleted = 'UC',
    ChildWorkflowInitiated = 'CI',
    ChildWorkflowStarted = 'CS',
    ChildWorkflowStartFailed = 'CN',
    ChildWorkflowCompleted = 'CC',
    ChildWorkflowFailed = 'CF',
    ChildWorkflowCanceled = 'CX',
    ChildWorkflowTerminated = 'CT',
    ChildWorkflowTimedOut = 'CO',
    ExternalSignalInitiated = 'ES',
    ExternalSignaled = 'ED',
    ExternalSignalFailed = 'EF',
    ExternalCancelInitiated = 'EC',
    ExternalCancelRequested = 'EA',
    ExternalCancelFailed = 'EN',
}

-- event encodes one history event as its list element: type code, ts (ms)
-- and data, separated by newlines (docs/internals.md, "History list").
local function event(etype, ts, data)
    return (EVENT_CODE[etype] or etype) .. '\n' .. ts .. '\n' .. data
end

-- call_paged runs `cmd key` with the values t[1..n]: in one call for most,
-- in pages past unpack's limit on arguments (about 8000): 1000 items per
-- call, an item being `width` values (1: list elements, 2: a hash's
-- field and value). Nothing for n = 0.
local function call_paged(cmd, key, t, n, width)
    local per = 1000 * width
    if n <= per then
        if n > 0 then redis.call(cmd, key, unpack(t, 1, n)) end
        return
    end
    for i = 1, n, per do
        redis.call(cmd, key, unpack(t, i, math.min(i + per - 1, n)))
    end
end

-- upgrade_history turns a history written by library 11 or older (a
-- stream: entry N-0 is event N, fields type, ts, data) into the list this
-- library reads, in place, with the same event ids. Returns the number of
-- events, or nil when key is not a stream (a list, or absent).
local function upgrade_history(key)
    if redis.call('TYPE', key)['ok'] ~= 'stream' then return nil end
    local entries = redis.call('XRANGE', key, '-', '+')
    local items = {}
    for i, e in ipairs(entries) do
        if e[1] ~= str(i) .. '-0' then
            error({err = 'DURO_CORRUPT ' .. key .. ' has event ' .. e[1] ..
                       ' where event ' .. str(i) .. ' belongs'})
        end
        local f = {}
        for j = 1, #e[2] - 1, 2 do f[e[2][j]] = e[2][j + 1] end
        items[i] = event(f.type or '', f.ts or '0', f.data or '{}')
    end
    redis.call('DEL', key)
    call_paged('RPUSH', key, items, #items, 1)
    return #items
end

-- history_len: LLEN of a run's history, upgrading one in the old format
-- first; a key of another type raises DURO_WRONGTYPE.
local function history_len(key)
    local n = redis.pcall('LLEN', key)
    if type(n) == 'table' and n.err then
        if not string.find(n.err, 'WRONGTYPE', 1, true) then error(n) end
        if not upgrade_history(key) then wrongtype(key, 'list') end
        n = redis.call('LLEN', key)
    end
    CHECKED[key] = 'list'
    return n
end

-- ---- Workflow context ----------------------------------------------------

-- WF_FIELDS: the fields of the workflow hash a context holds, in the order
-- load_wf reads them. The two hot calls' HMGET reads only the first ones
-- (WF_FIELDS.hot: what they read, recorded over the integration suite):
-- the 8 an activity's completion with an eager task reads, then the 3 a
-- commit adds. The others (a task timing out, failing or retried, a
-- run's timeouts, its close) are read by one more HMGET the first time
-- such a call reads any of them (WF_FIELDS.meta). Each field named costs
-- the HMGET ~2.3k instructions; the second HMGET, ~30k: a call that is
-- known to read them (WF_FIELDS.hot_of), and every other Function, reads
-- all 17 at once.
local WF_FIELDS = {'run', 'status', 'hlen', 'wft', 'queue', 'sticky',
                   'sticky_ms', 'opt', 'token', 'bufn', 'wft_sticky',
                   'wft_entry', 'wft_attempt', 'wft_timeout', 'exec_timeout',
                   'run_timeout', 'start_ms'}
-- hot.act: an activity's completion (duro_act_complete), release or
-- heartbeat; hot.wft: a commit, an inbound event (signal, cancel, update),
-- an activity's timeout, a sticky worker's release; hot.timer: a timer's
-- fire, by its kind (none: all 17, as for every other Function: a task's
-- fallback, retry or timeout, a run's timeout reads the others)
WF_FIELDS.hot = {act = 8, wft = 11,
                 timer = {t = 11, r = 11, s = 11, q = 11, l = 11}}
-- at: each field's position in WF_FIELDS
WF_FIELDS.at = {}
for i = 1, #WF_FIELDS do WF_FIELDS.at[WF_FIELDS[i]] = i end
-- The optional fields: those most runs never have. A field a hash lacks costs
-- HMGET a scan of the whole hash (a small hash is one listpack, searched
-- from its start per field), so they are read only when `opt` is not '0':
-- a run's start writes opt '0', and set() makes it '1' when it writes one
-- of them (they are written through set() alone). A hash without `opt`
-- (written by library 26 or older) reads them all.
-- OPT holds them (fields), the same as a set (is), and what load_wf reads
-- for a hash without any (none): one local, for the chunk's limit of 200.
-- none holds false for each (a hash's missing field, as HMGET answers it):
-- a context's field that is nil would cost a read WF_FIELDS.meta's call.
local OPT = {fields = {'retention', 'priority', 'fkey', 'fweight', 'parent',
                       'children', 'upend'}, is = {},
             none = {false, false, false, false, false, false, false}}
for i = 1, #OPT.fields do OPT.is[OPT.fields[i]] = true end
-- WF_FIELDS.start: the fields a start writes (start_run), in the order
-- flush writes them: the hot ones first (a new hash's listpack keeps the
-- order written, and HMGET scans it from its start), as a list, since
-- pairs over the 27 of them costs a C call each (a field of WF_FIELDS,
-- for the chunk's limit of 200 locals).
WF_FIELDS.start = {'run', 'status', 'hlen', 'token', 'wft', 'wft_entry',
                   'queue', 'wft_attempt', 'wft_timeout', 'exec_timeout',
                   'bufn', 'sticky', 'wft_sticky', 'run_timeout', 'opt',
                   'start_ms', 'type', 'input', 'result', 'failure',
                   'close_ms', 'wft_error', 'cancel_requested', 'priority',
                   'fkey', 'fweight', 'retention'}
if #WF_FIELDS ~= 17 or #OPT.fields ~= 7 or WF_FIELDS[8] ~= 'opt' then
    error('load_wf names 17 + 7 fields in its constructor, opt 8th: ' ..
              'keep it to WF_FIELDS and OPT.fields')
end

-- LOADED holds the contexts of the current call; the wrapper every
-- Function is registered through writes their changed fields back in one
-- HSET each when the call returns. LOADED.dirty: the contexts' tables of
-- changed fields (w.dirty), one per position in LOADED, kept from call to
-- call: flush empties each as it writes it, and a table grown anew to a
-- commit's 6 fields rehashes 4 times (~5k instructions); txn empties
-- those of a call that raised an error (dirty_reset).
local LOADED = {dirty = {}}

-- WF_FIELDS.load reads, in one HMGET, the fields of WF_FIELDS that
-- load_wf left out of context w (w.rest: how many it read), but for those
-- the call already changed (set): a call reads the hash as it was when
-- loaded. close, which deletes some of them from the hash, loads them
-- first. A field the hash lacks becomes false, as in load_wf, so that a
-- second read finds it without another HMGET.
WF_FIELDS.load = function(w)
    local n = w.rest
    if not n then return end
    w.rest = false
    local v = redis.call('HMGET', w.k.wf, unpack(WF_FIELDS, n + 1))
    local d = w.dirty
    for i = n + 1, #WF_FIELDS do
        local f = WF_FIELDS[i]
        if d[f] == nil then w[f] = v[i - n] end
    end
end
-- WF_FIELDS.meta: the metatable of a context load_wf read in part. A read
-- of a missing field of WF_FIELDS loads them all (WF_FIELDS.load): no
-- reader has to know which fields were read. Other missing names (a
-- context's own: lease, first, ...) are false in the context, not nil,
-- where a hot call reads them, so that they cost no call to __index.
WF_FIELDS.meta = {__index = function(w, f)
    local i = WF_FIELDS.at[f]
    if not i or not w.rest or i <= w.rest then return nil end
    WF_FIELDS.load(w)
    return rawget(w, f)
end}

-- load_wf reads the workflow hash into a context. k names the keys the
-- Function uses (keys_of): wf, hist, buf, wft, timers, pa, idx_open,
-- idx_closed, act. hot: how many of WF_FIELDS to read now (the rest when
-- first read: WF_FIELDS.meta), all when nil.
local function load_wf(k, now, hot)
    hot = hot or #WF_FIELDS
    local v = read('hash', 'HMGET', k.wf, unpack(WF_FIELDS, 1, hot))
    if not v[1] then return nil end
    local o = v[8] == '0' and OPT.none or
                  redis.call('HMGET', k.wf, unpack(OPT.fields))
    -- one constructor, sized once, rather than a table grown by 22
    -- inserts (each growth rehashes it); the order is WF_FIELDS'. The
    -- fields past hot are nil until read (WF_FIELDS.meta); named here,
    -- so that loading them does not grow the table.
    local slot = #LOADED + 1
    local dirty = LOADED.dirty[slot]
    if not dirty then
        dirty = {}
        LOADED.dirty[slot] = dirty
    end
    local w = {k = k, now = now or now_ms(), dirty = dirty, id = false,
               nows = false, hnew = false, hdirty = false, pa_drop = false,
               hist_of = false, lease = false, first = false,
               rest = hot < #WF_FIELDS and hot,
               run = v[1], status = v[2], hlen = v[3], wft = v[4],
               queue = v[5], sticky = v[6], sticky_ms = v[7], opt = v[8],
               token = v[9], bufn = v[10], wft_sticky = v[11],
               wft_entry = v[12], wft_attempt = v[13], wft_timeout = v[14],
               exec_timeout = v[15], run_timeout = v[16], start_ms = v[17],
               retention = o[1], priority = o[2], fkey = o[3],
               fweight = o[4], parent = o[5], children = o[6], upend = o[7]}
    if w.rest then setmetatable(w, WF_FIELDS.meta) end
    -- what follows the first '}:wf:' (a plain find: a pattern tries
    -- every position of the key)
    local at = string.find(k.wf, '}:wf:', 1, true)
    w.id = at and string.sub(k.wf, at + 5)
    w.hlen = num(w.hlen) or 0
    -- event N is element N of the history list: a list of another length
    -- than hlen (edited by hand, or hlen damaged) would give the events
    -- appended now the wrong ids, so refuse the call before its first
    -- write (LLEN is O(1) and checks the type too)
    if k.hist and string.sub(k.hist, -(#w.run + 1)) == ':' .. w.run then
        -- hist_of: the run k.hist was found to belong to (current)
        w.hist_of = w.run
        local n = history_len(k.hist)
        if n ~= w.hlen then
            error({err = 'DURO_CORRUPT ' .. k.hist .. ' has ' .. str(n) ..
                       ' events, not its length ' .. str(w.hlen)})
        end
    end
    LOADED[slot] = w
    return w
end

-- set changes a field of the workflow hash (written when the call ends);
-- values are strings, as HMGET returns them.
local function set(w, field, value)
    w[field] = value
    w.dirty[field] = value
    if OPT.is[field] and w.opt == '0' then
        w.opt = '1'
        w.dirty.opt = '1'
    end
end

-- flush_history appends the events of the call (append) in one RPUSH.
local function flush_history(w)
    local ev = w.hnew
    if not ev then return end
    w.hnew = false
    call_paged('RPUSH', w.k.hist, ev, #ev, 1)
end

-- flush writes what the call changed of w: its events, the fields of the
-- activities it resolved, its hash fields (one HSET, its arguments in a
-- table kept from call to call: one grown by two per field rehashes as
-- it grows; emptied once written).
local flush
do
    local args = {}
    flush = function(w)
        flush_history(w)
        -- the fields of the activities the call resolved (resolve_activity):
        -- a run the call closed lost its whole pending-activities hash (close)
        local drop = w.pa_drop
        if drop then
            w.pa_drop = false
            if w.status == 'RUNNING' then
                redis.call('HDEL', w.k.pa, unpack(drop))
            end
        end
        -- hlen: formatted once, however many events the call appended
        if w.hdirty then
            w.hdirty = false
            w.dirty.hlen = str(w.hlen)
        end
        local n, d = 0, w.dirty
        -- a start's fields by their list (WF_FIELDS.start), the rest (a
        -- loaded context's few) by pairs
        local first = w.first
        if first then
            w.first = false
            for j = 1, #first do
                local f = first[j]
                local v = d[f]
                if v ~= nil then
                    args[n + 1], args[n + 2] = f, v
                    n = n + 2
                    d[f] = nil
                end
            end
        end
        -- emptied as it is read (a traversal may clear the fields it
        -- visits), not replaced by a new table
        for f, v in pairs(d) do
            args[n + 1], args[n + 2] = f, v
            n = n + 2
            d[f] = nil
        end
        -- paged: a close answers each pending update in a field
        -- (fail_updates), and a call that stopped at unpack's limit would
        -- leave the run open with its close written everywhere else
        call_paged('HSET', w.k.wf, args, n, 2)
        -- let go of the values written (a start's input, a close's
        -- result): args outlives the call, in Lua memory maxmemory does
        -- not count (the names: the library's own, or short)
        for i = 2, n, 2 do args[i] = false end
    end
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
local KEY_TYPE = {wf = 'hash', hist = 'list', buf = 'list', wft = 'stream',
                  timers = 'zset', pa = 'hash', idx_open = 'zset',
                  idx_closed = 'zset', act = 'stream'}

-- probe answers nil when key is a `want` or absent, else DURO_WRONGTYPE
-- naming it, its type and want (an error reply); skipped for a key the
-- call has found to be a `want` (CHECKED). The probe is the type's own
-- count (HLEN, LLEN, ZCARD, XLEN, SCARD): O(1), 0 for a missing
-- key, WRONGTYPE for another type, and a number reply, where TYPE's
-- status reply costs a Function a table ({ok = ...}) and its type's
-- name compared (docs/benchmarks.md: a ZCARD or HLEN probe costs ~1.7k
-- instructions less than a TYPE). TYPE runs on the error path alone, to
-- name what the key is; a type with no count command is TYPE'd.
local probe
do
    local COUNT = {hash = 'HLEN', list = 'LLEN', zset = 'ZCARD',
                   stream = 'XLEN', set = 'SCARD'}
    local function refused(key, want)
        local got = redis.call('TYPE', key)['ok']
        if got == 'none' or got == want then return nil end
        return fail('DURO_WRONGTYPE',
                    key .. ' is a ' .. got .. ', expected ' .. want)
    end
    probe = function(key, want)
        if CHECKED[key] == want then return nil end
        local cmd = COUNT[want]
        if not cmd then
            local bad = refused(key, want)
            if bad then return bad end
        else
            local r = redis.pcall(cmd, key)
            if type(r) == 'table' and r.err then
                if not string.find(r.err, 'WRONGTYPE', 1, true) then
                    return r
                end
                -- (r: a WRONGTYPE that TYPE does not explain, which
                -- nothing between the two commands could cause)
                return refused(key, want) or r
            end
        end
        CHECKED[key] = want
        return nil
    end
end

-- check_types answers an error reply when KEYS has fewer keys than types
-- lists, or a key exists with another type than its entry. Redis does not
-- roll back a Function that fails halfway, so a key made a string by hand
-- must stop the call before its first write, not at the XADD that would
-- fail after a ZREM or an XACK. One probe per distinct key (O(1), no
-- payload); keys past the list have type `rest` ('-' when nil).
-- '-' skips the check, for a key the Function itself checks before its
-- first write: the workflow hash and the run's history (load_wf reads
-- them; duro_act_complete the pending activities, pa_state), keys it only
-- DELs, the idx_open/idx_closed slots (no longer written but by
-- duro_purge, which checks them). Each
-- probe costs about 1us of Redis CPU in the hot Functions, so they check
-- only what they could fail on, and none that the call has already
-- found to be of the type wanted (CHECKED).
local function check_types(keys, types, rest, from)
    if #keys < #types then
        return fail('DURO_BADARG', 'needs ' .. #types .. ' keys')
    end
    -- from: the first key whose entry is not '-' (txn knows it)
    for i = from or 1, #keys do
        local want = types[i] or rest or '-'
        if want ~= '-' then
            local bad = probe(keys[i], want)
            if bad then return bad end
        end
    end
    return nil
end

-- check_close checks the keys close() writes that the hot Functions leave
-- unchecked. Called before the first write of a call that may close the
-- run. Nothing now: close writes the visibility indexes (vcall skips a key
-- of the wrong type), no longer idx_open/idx_closed (their KEYS positions
-- stay, unused but for duro_purge, so the contract is unchanged). A run
-- w with a parent or open children writes outbox records when it closes
-- (xfer_close): the partition's outbox must be a hash.
local function check_close(k, w)
    if not w or ((w.parent or '') == '' and (tonumber(w.children) or 0) <= 0)
    then
        return nil
    end
    return check_types({string.match(k.wf, '^(.-%b{})') .. ':outbox'},
                       {'hash'})
end

-- contract derives from a Function's spec what txn needs: the names
-- keys_of must drop (unused slots and the canonical names past the
-- prefix), the extras, and the type txn checks for each key ('-': not
-- checked). spec: keys (the prefix length of KEY_ORDER), unused (names in
-- the prefix it ignores), check (names txn TYPE-checks; every other key
-- the Function checks itself or only deletes), extra (names of the keys
-- after the prefix), rest (the type of keys past those).
local function contract(spec)
    -- set_of: a list as a set (numeric loop: the library's load-time
    -- environment has no pairs/ipairs)
    local function set_of(list)
        local t = {}
        list = list or {}
        for i = 1, #list do t[list[i]] = true end
        return t
    end
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

-- keys_of names the KEYS a Function uses (c: from contract) in k: the one
-- key table every Function reads (k.wf, k.hist, ...). The assignment
-- spells KEY_ORDER out; the check below holds it to KEY_ORDER. k is the
-- Function's own table, refilled by every call (txn): a new table of 9
-- keys costs ~5k instructions a call, its allocation and collection
-- included. Every name is written in every call, so none outlives it.
local function keys_of(keys, c, k)
    k.wf, k.hist, k.buf, k.wft, k.timers = keys[1], keys[2], keys[3],
                                           keys[4], keys[5]
    k.pa, k.idx_open, k.idx_closed, k.act = keys[6], keys[7], keys[8],
                                            keys[9]
    local clear, extra = c.clear, c.extra
    for j = 1, #clear do k[clear[j]] = nil end
    for j = 1, #extra do k[extra[j]] = keys[c.keys + j] end
    return k
end

do
    local order = keys_of(KEY_ORDER, {keys = #KEY_ORDER, clear = {},
                                      extra = {}}, {})
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
    -- a Function that TYPE-checks no key of its own (all '-', no rest)
    -- skips check_types' loop over KEYS but for its count
    local ntypes, any = #types, spec.rest ~= nil
    -- from: where check_types' loop starts (past a prefix all '-')
    local from = ntypes + 1
    for i = ntypes, 1, -1 do
        if types[i] ~= '-' then
            any, from = true, i
        end
    end
    local k = {}
    return function(keys, args)
        CHECKED = {}
        if any then
            local bad = check_types(keys, types, spec.rest, from)
            if bad then return bad end
        elseif #keys < ntypes then
            return fail('DURO_BADARG', 'needs ' .. ntypes .. ' keys')
        end
        -- contexts left by a call that raised an error, unflushed: their
        -- changes dropped (LOADED.dirty's tables are reused)
        for i = #LOADED, 1, -1 do
            local d = LOADED[i].dirty
            for f in pairs(d) do d[f] = nil end
            LOADED[i] = nil
        end
        local r = fn(keys_of(keys, c, k), args, keys)
        -- emptied as flushed, not made anew
        for i = 1, #LOADED do
            flush(LOADED[i])
            LOADED[i] = nil
        end
        return r
    end
end

-- current checks that the context's run is `run`, still RUNNING, and that
-- the history key the caller passed belongs to that run.
local function current(w, run)
    if not w or w.run ~= run or w.status ~= 'RUNNING' then return false end
    -- load_wf found most calls' history key to be the run's (hist_of)
    if w.k.hist and w.hist_of ~= run and
        string.sub(w.k.hist, -(#run + 1)) ~= ':' .. run then
        return false
    end
    return true
end

-- push_event appends an encoded event: the call's events go to the
-- history in one RPUSH when it ends (flush_history).
local function push_event(w, item)
    w.hlen = w.hlen + 1
    local ev = w.hnew
    if not ev then
        ev = {}
        w.hnew = ev
    end
    ev[#ev + 1] = item
    w.hdirty = true -- w.hlen stays a number; flush writes it
end

-- next_token issues a new fencing token for a re-issued task.
local function next_token(w)
    set(w, 'token', str((tonumber(w.token) or 0) + 1))
    return w.token
end

-- ---- Sticky execution (docs/internals.md, "Sticky execution") ----------

-- A worker that keeps a run in its cache after a commit becomes the run's
-- sticky worker (`sticky`); the run's next workflow task goes to that
-- worker's own stream `<shared stream>#<worker>` (same partition, so the
-- same hash tag; '#' cannot occur in a queue name), with a 'k' timer due
-- `sticky_ms` later that moves it to the shared stream unless the worker
-- took it in time. `wft_sticky` names the worker whose stream holds the
-- outstanding task ('' when it is in the shared one).

-- shared_wft: the shared workflow-task stream of the call's queue; KEYS[4]
-- names either it or one worker's sticky stream.
local function shared_wft(k)
    return string.match(k.wft, '^[^#!~]*')
end

local function sticky_wft(k, worker)
    return shared_wft(k) .. '#' .. worker
end

local function sticky_member(w, token)
    return timer_member('k', w.run, token, 0, w.queue, '-', w.id)
end

-- ---- Priorities (docs/internals.md, "Priorities") -----------------------

-- A task queue has a stream per priority level 1 (highest) .. 5: level 3,
-- the default, keeps the queue's plain stream name, so a run without a
-- priority costs nothing; level N is that name with "!N" appended (same
-- hash tag, same slot; '!' cannot occur in a queue name). A run's priority
-- is its hash's `priority` field, written only when it is not 3.
local PRIORITY_DEFAULT = '3'

-- prio_stream: the stream of level prio (nil/''/'3': the plain one) for a
-- task stream key, whatever level or sticky suffix that key carries.
local prio_stream
do
    -- base_of: the key without its suffixes, kept (the same few stream
    -- keys come in every call). Most keys carry no suffix: three plain
    -- finds (memchr) then, and the key itself (a class tried at every
    -- position costs more than the anchored match, which makes a string)
    local base_of = kept(function(key)
        return (string.find(key, '#', 1, true) or
                string.find(key, '!', 1, true) or
                string.find(key, '~', 1, true)) and
                   string.match(key, '^[^#!~]*') or key
    end, 4096)

    prio_stream = function(key, prio)
        local base = base_of(key)
        if not prio or prio == '' or prio == PRIORITY_DEFAULT then
            return base
        end
        return base .. '!' .. prio
    end
end

-- A worker on one node reads a level's stream of a partition only while
-- that level is in use there (docs/internals.md, "The read set"): a task
-- added to a level stream without undelivered entries also rings the
-- queue's level bell stream of that kind, `<partition 0's plain
-- stream>!0`, with an entry {level=N, p=P}; the workers always read it,
-- ahead of the task streams, so the bell wakes one at once, ahead of any
-- backlog. That worker then reads the level too. Not on the default
-- level's path (it costs nothing), nor on a cluster (cross-slot).
local LEVEL_BELLS_MAX = '1000'

-- level_idle: whether level stream s may be unread: its group has no
-- undelivered entry (lag 0), or its lag is unknown, or it has no group.
local function level_idle(s)
    local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', s)
    if not ok then return true end
    for i = 1, #groups do
        local g = groups[i]
        for j = 1, #g - 1, 2 do
            if g[j] == 'name' and g[j + 1] ~= GROUP then break end
            if g[j] == 'lag' then
                return not (type(g[j + 1]) == 'number' and g[j + 1] > 0)
            end
        end
    end
    return true
end

-- task_xadd: XADD of fields to task stream s; a level stream that may be
-- unread rings the level bell stream (see above). A plain stream of
-- another type answers DURO_WRONGTYPE (read): a new id's start has it as
-- its first write, unchecked before (duro_start).
local function task_xadd(s, ...)
    -- a plain find first: most streams are no level's (a pattern ending
    -- in '$' is tried at every position of s)
    local level = not WAKE_WORKERS and string.find(s, '!', 1, true) and
                      string.match(s, '!(%d)$')
    if not level then return read('stream', 'XADD', s, '*', ...) end
    local idle = level_idle(s)
    local entry = redis.call('XADD', s, '*', ...)
    if idle then
        local base = prio_stream(s)
        local bells = string.gsub(base, '{p%d+}', '{p0}', 1) .. '!0'
        redis.call('XADD', bells, 'MAXLEN', '~', LEVEL_BELLS_MAX, '*',
                   'level', level, 'p', string.match(base, '{p(%d+)}'))
    end
    return entry
end

-- priority_arg: a start's or an activity's priority, '1'..'5', or nil
-- (absent or '': the default), or false when it is out of range.
local function priority_arg(v)
    if v == nil or v == '' or v == '0' then return nil end
    if not string.match(v, '^[1-5]$') then return false end
    return v ~= PRIORITY_DEFAULT and v or nil
end

-- act_priority: an activity's own priority from its options JSON (the
-- field "priority"; decoded only when the text names it), else the run's.
local act_priority
do
    -- opts_priority: the level opts names, kept per options text (the
    -- same few come call after call: a table read for a find)
    local opts_priority = kept(function(opts)
        if not string.find(opts, '"priority"', 1, true) then return nil end
        local ok, o = pcall(cjson.decode, opts)
        local p = ok and type(o) == 'table' and tonumber(o.priority)
        if p and p >= 1 and p <= 5 and p == math.floor(p) then
            return str(p)
        end
        return nil
    end, 1024)

    act_priority = function(w, opts)
        return opts and opts_priority(opts) or w.priority
    end
end

-- ---- Fairness (docs/internals.md, "Fairness") ---------------------------

-- A task with a fairness key K goes to its own stream `<S>~K` beside the
-- (level) stream S it would have gone to ('~' cannot occur in a queue
-- name or a key), and S gets a bell: an entry {bell=1}. A worker that
-- reads a bell asks duro_fair_next which key's stream to read: the ready
-- key (zset `<S>~`) with the lowest virtual time (weighted fair queuing:
-- a key's time goes on by 1/weight per turn; a key that becomes ready
-- starts at the time of the last turn, `<S>~~` field '~v'). It reads one
-- task of that stream (XREADGROUP: pending there as any task) and reports
-- it with duro_fair_took, which acks the bell; a stream found empty goes
-- back to duro_fair_next, which drops the key unless a task came since.
-- `<S>~~` also counts each key's tasks not yet taken ('n:K') and added
-- ('a:K'), and holds weights other than 1 ('w:K'). One bell per task, so
-- every task is taken; the order is the keys', not the bells'.
-- `<prefix>{pN}:fair:<queue>` lists the partition's fair streams for the
-- scheduler's reclaim scan, which also rings again a bell whose worker
-- died.
local FAIR_V = '~v'

-- fair_key_arg: a fairness key, nil (none) or false (not a valid name).
local function fair_key_arg(v)
    if v == nil or v == '' then return nil end
    if #v > 64 or not string.match(v, '^[%w%._:%-]+$') then return false end
    return v
end

-- fair_weight_arg: a weight 1..1000 as a string, nil (1) or false.
local function fair_weight_arg(v)
    if v == nil or v == '' then return nil end
    local n = tonumber(v)
    if not n or n < 1 or n > 1000 or n ~= math.floor(n) then return false end
    return n ~= 1 and str(n) or nil
end

-- act_fairness: an activity's own fairness key and weight from its
-- options JSON (decoded only when the text names one), else the run's.
local act_fairness
do
    -- opts_fairness: {key, weight} of opts, nil when it names no valid
    -- key, kept per options text (as opts_priority)
    local opts_fairness = kept(function(opts)
        if not string.find(opts, '"fairnessKey"', 1, true) then return nil end
        local ok, o = pcall(cjson.decode, opts)
        local key = ok and type(o) == 'table' and
                        fair_key_arg(type(o.fairnessKey) == 'string' and
                                         o.fairnessKey or nil)
        if not key then return nil end
        return {key, fair_weight_arg(tostring(o.fairnessWeight or '')) or nil}
    end, 1024)

    act_fairness = function(w, opts)
        local f = opts and opts_fairness(opts)
        if f then return f[1], f[2] end
        return w.fkey, w.fweight
    end
end

-- TASK: what a task's XADD writes beyond its queue's stream, known in
-- one place for the checks before a call's first write (one local: the
-- main chunk is at Lua's limit of 200).
local TASK = {}

-- TASK.fair_index: the partition's set of the fair streams of stream s's
-- queue (the scheduler's reclaim scan reads it).
TASK.fair_index = function(s)
    local head, queue = string.match(s, '^(.-{p%d+}):%a+:([^!~#]*)')
    return head .. ':fair:' .. queue
end

-- TASK.written adds to need (check_needed's shape: its list part probed
-- as streams, need.typed as key, then type) the keys a task for stream s
-- writes with priority prio and fairness key fkey (nil, false or '':
-- none) that a probe of s alone misses: the level's stream (prio_stream)
-- and, with a key, the key's stream beside it, the ready zset, the meta
-- hash and the partition's set of fair streams (fair_xadd, fair_added).
-- A key of another type would fail the XADD, ZADD, HINCRBY or SADD
-- after the call's first write. Nothing for a task with neither (the
-- hot path). The level bells (task_xadd) are left out: in partition 0's
-- slot, not the call's. Returns need.
TASK.written = function(s, prio, fkey, need)
    if fkey == '' then fkey = nil end
    if not (prio and prio ~= '' or fkey) or not s then return need end
    s = prio_stream(s, prio)
    need[#need + 1] = s
    if not fkey then return need end
    local t = need.typed or {}
    need.typed = t
    local n = #t
    t[n + 1], t[n + 2], t[n + 3], t[n + 4] = s .. '~' .. fkey, 'stream',
                                              s .. '~', 'zset'
    t[n + 5], t[n + 6], t[n + 7], t[n + 8] = s .. '~~', 'hash',
                                              TASK.fair_index(s), 'set'
    return need
end

-- TASK.probe probes (probe) the keys need lists (TASK.written): its list
-- part as streams, but for `skip` (a stream the call's first write
-- checks), then need.typed, each as its type. nil, or the error reply.
TASK.probe = function(need, skip)
    for j = 1, #need do
        local key = need[j]
        if key ~= skip then
            local bad = probe(key, 'stream')
            if bad then return bad end
        end
    end
    local t = need.typed
    for j = 1, t and #t or 0, 2 do
        local bad = probe(t[j], t[j + 1])
        if bad then return bad end
    end
    return nil
end

-- TASK.check: nil when the keys a task for stream s with priority prio
-- and fairness key fkey writes (TASK.written) are of their types or
-- absent, else DURO_WRONGTYPE naming the first that is not.
TASK.check = function(s, prio, fkey)
    if not (prio or fkey) then return nil end
    return TASK.probe(TASK.written(s, prio, fkey, {}))
end

-- TASK.wft_check: TASK.check for run w's next workflow task (enqueue_wft:
-- the run's priority and fairness key, its queue's shared stream, which
-- is also where a sticky task falls back to). delivering: the call
-- delivers an inbound event (deliver), which queues a task only when
-- none is outstanding. Called before a call's first write by every
-- Function that may queue one; a run with neither costs two reads.
TASK.wft_check = function(w, delivering)
    if not (w.priority or w.fkey) then return nil end
    if delivering and w.wft == '1' then return nil end
    return TASK.check(w.k.wft, w.priority, w.fkey)
end

-- TASK.retries: a failed or timed-out attempt of activity record st is
-- retried after delay ms (-1: not), not resolved (retry_or_resolve): the
-- delay ends before its schedule-to-close deadline.
TASK.retries = function(w, st, delay)
    local deadline = tonumber(st.deadline) or 0
    return delay >= 0 and (deadline == 0 or w.now + delay < deadline)
end

-- fair_added: a task just went to stream `<s>~<fkey>`: the key is made
-- ready (at the current virtual time when it was not) and s gets a bell.
local function fair_added(s, fkey, weight)
    local fs, ready, meta = s .. '~' .. fkey, s .. '~', s .. '~~'
    redis.call('SADD', TASK.fair_index(s), fs)
    redis.call('HINCRBY', meta, 'n:' .. fkey, 1)
    redis.call('HINCRBY', meta, 'a:' .. fkey, 1)
    if not redis.call('ZSCORE', ready, fkey) then
        redis.call('ZADD', ready, redis.call('HGET', meta, FAIR_V) or '0', fkey)
    end
    if weight then redis.call('HSET', meta, 'w:' .. fkey, weight) end
    task_xadd(s, 'bell', '1')
end

-- wake_workers: on a Redis Cluster (WAKE_WORKERS), tells the workers that
-- task stream s (a workflow-task, activity-task, query, sticky or priority
-- stream; a fairness task's bell goes to its plain one) got an entry:
--   SPUBLISH <prefix>{pN}:wake <what follows "}:" in s>, e.g. "wft:food",
--   "act:food!1", "wft:food#<worker>"
-- so a worker reads that partition's streams of the kind at once; what a
-- lost message leaves behind, its next poll finds. One node: nothing.
local function wake_workers(s)
    if not WAKE_WORKERS then return end
    local head, what = string.match(s, '^(.-{p%d+}):(.*)$')
    if head then redis.call('SPUBLISH', head .. ':wake', what) end
end

-- fair_xadd: XADD of a task's fields to stream s, or to fkey's stream
-- beside it (fair_added); returns the entry id.
local function fair_xadd(s, fkey, weight, ...)
    if not fkey then
        local entry = task_xadd(s, ...)
        wake_workers(s)
        return entry
    end
    local entry = redis.call('XADD', s .. '~' .. fkey, '*', ...)
    fair_added(s, fkey, weight)
    wake_workers(s)
    return entry
end

-- split_fair: the stream and fairness key of a task stream key (nil key:
-- not a fair stream).
local function split_fair(key)
    -- most keys have no '~': a plain find is far cheaper than the match
    if not string.find(key, '~', 1, true) then return key, nil end
    local s, fkey = string.match(key, '^(.-)~([^~]+)$')
    if s then return s, fkey end
    return key, nil
end

-- TASK.act_written adds to need (TASK.written) the keys an activity
-- attempt queued again into the stream it was recorded in (act, as
-- enqueue_activity takes it) writes past act itself: for a fair key's
-- stream `<s>~<key>`, the key's fair keys and the bell in s (its level
-- kept). A retry at once, a hand-back or an 'r' timer writes them after
-- the call's first write (the ack, a timer's ZREM). Returns need.
TASK.act_written = function(act, need)
    -- most attempts have no key: one plain find
    if not string.find(act, '~', 1, true) then return need end
    local s, fkey = split_fair(act)
    if fkey then TASK.written(s, string.match(s, '!(%d)$'), fkey, need) end
    return need
end

-- wft_target: the sticky worker for the run's next task, or '' (the
-- shared stream): none, or a call without the timers key (signal,
-- cancel), which could not arm the fallback.
local function wft_target(w)
    local sticky, ms = w.sticky or '', tonumber(w.sticky_ms) or 0
    if sticky == '' or ms <= 0 or not w.k.timers then return '' end
    return sticky
end

-- set_sticky records which worker holds the run (''/nil: none) and for how
-- long its tasks wait for it; written only when it changes.
local function set_sticky(w, worker, ms)
    worker = worker or ''
    if (w.sticky or '') ~= worker then set(w, 'sticky', worker) end
    if worker ~= '' and w.sticky_ms ~= ms then set(w, 'sticky_ms', ms) end
end

-- append encodes an event (as event() does) and appends it (as
-- push_event does), in one function: it runs for every event a call
-- writes, and a call costs the interpreter as much as a few table reads.
local function append(w, etype, data)
    w.hlen = w.hlen + 1
    local ev = w.hnew
    if not ev then
        ev = {}
        w.hnew = ev
    end
    ev[#ev + 1] = (EVENT_CODE[etype] or etype) .. '\n' ..
                      (w.nows or now_str(w)) .. '\n' .. data
    w.hdirty = true
end

-- FIRST_EVENT_INLINE: the largest history a run's first task carries in
-- its entry (field h1, when the history is that one event), so that the
-- worker that takes it needs no LRANGE: a round trip and a command per
-- run. Larger ones are read as usual (the entry holds a copy until acked).
local FIRST_EVENT_INLINE = 4096

-- enqueue_wft puts the run's outstanding task (token) in its stream; h1,
-- when given, is the run's whole history: one event (FIRST_EVENT_INLINE).
local function enqueue_wft(w, token, h1)
    local sticky, entry = wft_target(w), nil
    if sticky ~= '' then
        -- a sticky stream made something else by hand must not fail the
        -- call halfway: the shared stream takes the task then
        entry = redis.pcall('XADD', sticky_wft(w.k, sticky), '*', 'id', w.id,
                            'run', w.run, 'token', tostring(token))
        if type(entry) ~= 'string' then
            entry, sticky = nil, ''
        else
            wake_workers(sticky_wft(w.k, sticky))
        end
    end
    if entry then
        -- no wake (add_timer's ZRANGE and PUBLISH): the scheduler's full
        -- pass every scan interval (1s) finds it; a fallback may be late
        -- by that much, and the hot path saves a command per task
        redis.call('ZADD', w.k.timers, str(w.now + tonumber(w.sticky_ms)),
                   sticky_member(w, token))
    else
        local stream, tok = prio_stream(w.k.wft, w.priority), tostring(token)
        local fkey, fw = w.fkey, w.fweight
        if fkey == '' then fkey = nil end
        if h1 then
            entry = fair_xadd(stream, fkey, fw, 'id', w.id, 'run', w.run,
                              'token', tok, 'h1', h1)
        else
            entry = fair_xadd(stream, fkey, fw, 'id', w.id, 'run', w.run,
                              'token', tok)
        end
    end
    set(w, 'wft_entry', entry)
    if (w.wft_sticky or '') ~= sticky then set(w, 'wft_sticky', sticky) end
end

-- task_taken ends the outstanding task's stay in a sticky stream once it
-- is committed, failed or moved: its 'k' timer goes.
local function task_taken(w)
    if (w.wft_sticky or '') == '' then return end
    redis.call('ZREM', w.k.timers, sticky_member(w, w.token))
    set(w, 'wft_sticky', '')
end

-- unstick moves the outstanding task from its sticky stream to the shared
-- one under a new token (so that the sticky worker, should it still read
-- the old entry, is fenced off), and the run is no longer sticky.
local function unstick(w)
    local stream = sticky_wft(w.k, w.wft_sticky)
    -- a sticky stream made something else by hand must not fail the move
    local acked = redis.pcall('XACK', stream, GROUP, w.wft_entry)
    if type(acked) == 'number' then ack_trim(stream, w.wft_entry, acked) end
    task_taken(w)
    set_sticky(w, '')
    enqueue_wft(w, next_token(w))
end

-- schedule_wft makes a new workflow task outstanding (h1: enqueue_wft).
local function schedule_wft(w, h1)
    set(w, 'token', str((tonumber(w.token) or 0) + 1))
    set(w, 'wft', '1')
    set(w, 'wft_attempt', '1')
    enqueue_wft(w, w.token, h1)
end


-- deliver records an inbound event: into the history with a new workflow
-- task when none is outstanding, else into the buffer, to be appended after
-- the outstanding task's commit (so that task's view stays exact).
local function deliver(w, etype, data)
    if w.wft == '1' then
        redis.call('RPUSH', w.k.buf, event(etype, now_str(w), data))
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
    -- a buffered event is already in the history's encoding, with the
    -- time it arrived
    for _, item in ipairs(items) do
        local a = string.find(item, '\n', 1, true)
        if a and string.find(item, '\n', a + 1, true) then
            push_event(w, item)
        end
    end
    if #items > 0 then redis.call('DEL', w.k.buf) end
    return #items
end

-- CLOSED_DROP: the workflow hash fields only an open run needs (workflow
-- task bookkeeping, timeouts, the buffer count), removed when it closes so
-- that a closed run's hash holds what describe shows; a new run of the id
-- writes them again. CLOSED_DROP.result and .failure: close's HDEL
-- arguments, built once (a list grown field by field per call rehashes
-- as it grows), for a run closing with a result (its empty failure goes
-- too) or with a failure (the empty result goes).
local CLOSED_DROP = {'wft', 'wft_entry', 'wft_attempt', 'wft_error',
                     'wft_timeouts', 'wft_timeout', 'exec_timeout', 'bufn',
                     'cancel_requested', 'sticky', 'sticky_ms', 'wft_sticky',
                     'run_timeout', 'upend'}
CLOSED_DROP.result, CLOSED_DROP.failure = {'failure'}, {'result'}
for j = 1, #CLOSED_DROP do
    CLOSED_DROP.result[j + 1] = CLOSED_DROP[j]
    CLOSED_DROP.failure[j + 1] = CLOSED_DROP[j]
end

-- ---- Visibility ----------------------------------------------------------

-- A row per run and its indexes (docs/internals.md, "Visibility"), in the
-- workflow's partition. Their keys are derived from the partition's prefix
-- (the key up to its hash tag, so the same slot) rather than passed in
-- KEYS: which index keys a call touches depends on values (a type, a
-- keyword) the caller would otherwise have to read first. Every write
-- goes through vcall, which skips a key of the wrong type: visibility may
-- then miss a row, but a start or a close never stops halfway.
--   <prefix>:vis:<run>          hash: id type queue status start close
--                                memo a:<Name> (type letter + JSON value);
--                                no `run` (its key names it; readers add
--                                it: row_run), but in a row written by
--                                library 30 or older
--   <prefix>:vx:start           zset run -> start ms (every run)
--   <prefix>:vx:close           zset run -> close ms (closed runs)
--   <prefix>:vx:status:<STATUS> zset run -> start ms
--   <prefix>:vx:type:<type>     zset run -> start ms
--   <prefix>:vx:kw:<Name>:<v>   zset run -> start ms (Keyword attributes)
--   <prefix>:sa                 hash Name -> type (the registry's copy)

-- slot_prefix_of: a key up to and including its hash tag ("duro:{p3}",
-- "duro:ns:shop:{p3}"), where the partition's visibility keys start.
local function slot_prefix_of(key)
    return string.match(key, '^(.-%b{})')
end

local function vcall(...)
    local r = redis.pcall(...)
    if type(r) == 'table' and r.err and
        not string.find(r.err, 'WRONGTYPE', 1, true) then
        error(r)
    end
    return r
end

-- SA_VALUE_MAX: the longest value (as stored), Temporal's 2 KiB.
local SA_VALUE_MAX = 2048

local SA_LETTER = {Keyword = 'K', Text = 'T', Int = 'I', Double = 'D',
                   Bool = 'B', Datetime = 'd', KeywordList = 'L'}

-- days_from_civil: days since 1970-01-01 (Howard Hinnant's algorithm).
local function days_from_civil(y, m, d)
    if m <= 2 then y = y - 1 end
    local era = math.floor(y / 400)
    local yoe = y - era * 400
    local mp = m > 2 and m - 3 or m + 9
    local doy = math.floor((153 * mp + 2) / 5) + d - 1
    local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
    return era * 146097 + doe - 719468
end

-- rfc3339_ms reads an RFC 3339 time as common/src/vq_compile.c does.
local function rfc3339_ms(s)
    local y, mo, d, h, mi, se, rest = string.match(s,
        '^(%d%d%d%d)-(%d%d)-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(.*)$')
    if not y then return nil end
    local frac = 0
    local f = string.match(rest, '^%.(%d+)')
    if f then
        frac = tonumber(string.sub(f .. '00', 1, 3))
        rest = string.sub(rest, #f + 2)
    end
    local off = 0
    if rest == 'Z' or rest == 'z' then
        off = 0
    else
        local sign, oh, om = string.match(rest, '^([+-])(%d%d):(%d%d)$')
        if not sign then return nil end
        off = (tonumber(oh) * 60 + tonumber(om)) * (sign == '-' and -1 or 1)
    end
    mo, d = tonumber(mo), tonumber(d)
    if mo < 1 or mo > 12 or d < 1 or d > 31 then return nil end
    local secs = days_from_civil(tonumber(y), mo, d) * 86400 +
                     tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(se) -
                     off * 60
    return secs * 1000 + frac
end

-- sa_encode types value v as attribute type typ: the row's text (type
-- letter + JSON), or nil and what was expected.
local function sa_encode(typ, v)
    local t = type(v)
    if typ == 'Keyword' or typ == 'Text' then
        if t == 'string' then return SA_LETTER[typ] .. cjson.encode(v) end
        return nil, 'a string'
    elseif typ == 'Int' then
        if t == 'number' and v == math.floor(v) then return 'I' .. str(v) end
        return nil, 'an integer'
    elseif typ == 'Double' then
        if t == 'number' then return 'D' .. string.format('%.17g', v) end
        return nil, 'a number'
    elseif typ == 'Bool' then
        if t == 'boolean' then return 'B' .. tostring(v) end
        return nil, 'true or false'
    elseif typ == 'Datetime' then
        local ms = t == 'string' and rfc3339_ms(v)
        if ms then return 'd' .. str(ms) end
        return nil, 'an RFC 3339 time string'
    elseif typ == 'KeywordList' then
        if t == 'table' then
            for i = 1, #v do
                if type(v[i]) ~= 'string' then break end
                if i == #v then return 'L' .. cjson.encode(v) end
            end
            if next(v) == nil then return 'L[]' end
        end
        return nil, 'an array of strings'
    end
    return nil, 'a registered type'
end

-- sa_prepare checks search attributes (JSON object text, or a decoded
-- table) against the partition's registry copy before anything is
-- written: returns a list of {name, text} (text nil: remove) or nil and
-- the message.
local function sa_prepare(prefix, attrs)
    if attrs == nil or attrs == '' then return {} end
    if type(attrs) == 'string' then
        local ok, d = pcall(cjson.decode, attrs)
        if not ok or type(d) ~= 'table' then
            return nil, 'search attributes must be a JSON object'
        end
        attrs = d
    end
    local reg = redis.call('HGETALL', prefix .. ':sa')
    local types = {}
    for i = 1, #reg, 2 do types[reg[i]] = reg[i + 1] end
    local out = {}
    for name, v in pairs(attrs) do
        if type(name) ~= 'string' then
            return nil, 'search attributes must be a JSON object'
        end
        local typ = types[name]
        if not typ then
            return nil, 'unknown search attribute ' .. name ..
                       ' (duro operator search-attribute create)'
        end
        if v == cjson.null then
            out[#out + 1] = {name}
        else
            local text, want = sa_encode(typ, v)
            if not text then
                return nil, 'search attribute ' .. name .. ' is a ' .. typ ..
                           ': expected ' .. want
            end
            if #text > SA_VALUE_MAX then
                return nil, 'search attribute ' .. name .. ' is longer than ' ..
                           SA_VALUE_MAX .. ' bytes'
            end
            out[#out + 1] = {name, text, typ == 'Keyword' and v or nil}
        end
    end
    return out
end

-- sa_apply writes prepared attributes into run's row and the keyword
-- indexes (start: the run's start ms, their score).
local function sa_apply(prefix, run, start, prepared)
    local row = prefix .. ':vis:' .. run
    for _, a in ipairs(prepared) do
        local field = 'a:' .. a[1]
        local old = vcall('HGET', row, field)
        if type(old) == 'string' and string.sub(old, 1, 1) == 'K' then
            local ok, ov = pcall(cjson.decode, string.sub(old, 2))
            if ok then
                vcall('ZREM', prefix .. ':vx:kw:' .. a[1] .. ':' .. ov, run)
            end
        end
        if a[2] then
            vcall('HSET', row, field, a[2])
            if a[3] then
                vcall('ZADD', prefix .. ':vx:kw:' .. a[1] .. ':' .. a[3],
                      start, run)
            end
        else
            vcall('HDEL', row, field)
        end
    end
end

-- vis_start, vis_row_start and vis_close: in a do block (the chunk's 200
-- locals), with the cache of key names they share.
local vis_start, vis_row_start, vis_close
do
    -- part_keys: the names of the partition's visibility index keys and
    -- of its close notice channel, for the slot prefix of wf_key, made
    -- once per partition rather than per call (a new string costs its
    -- hashing, allocation and collection). The Lua state outlives the
    -- call and maxmemory does not count it: what is kept is bounded in
    -- count and size (PART_MAX prefixes of at most PART_LEN bytes, each
    -- with at most PART_NAMES statuses and as many types of at most
    -- PART_LEN bytes); a longer one is made per call. At most ~2 MB in
    -- all (256 x 2 x 32 names of ~130 bytes): 16 partitions of a few
    -- namespaces and types use a fraction of it.
    local PART, kept = {}, 0
    local PART_MAX, PART_LEN, PART_NAMES = 256, 64, 32
    local function make(prefix, wf_key)
        return {prefix = prefix, start = prefix .. ':vx:start',
                close = prefix .. ':vx:close',
                running = prefix .. ':vx:status:RUNNING', status = {},
                type = {}, named = {status = 0, type = 0},
                -- what prefix_of and partition_of find in any key with
                -- this slot prefix
                channel = prefix_of(wf_key) .. 'closed:{p' ..
                    partition_of(wf_key) .. '}'}
    end
    local function part_keys(wf_key)
        local prefix = slot_prefix_of(wf_key)
        local p = PART[prefix]
        if p then return p end
        p = make(prefix, wf_key)
        if kept < PART_MAX and #prefix <= PART_LEN then
            PART[prefix] = p
            kept = kept + 1
        end
        return p
    end

    -- index_key: the index `<prefix>:vx:<kind>:<name>` of partition p
    -- (kind 'status' or 'type'), kept in p[kind] while there is room
    local function index_key(p, kind, name)
        local names = p[kind]
        local key = names[name]
        if key then return key end
        key = p.prefix .. ':vx:' .. kind .. ':' .. name
        local n = p.named[kind]
        if n < PART_NAMES and #name <= PART_LEN then
            names[name] = key
            p.named[kind] = n + 1
        end
        return key
    end

    -- vis_start writes a new run's row and indexes (start: ms as text).
    vis_start = function(wf_key, id, run, wtype, queue, start, memo, prepared)
        local p = part_keys(wf_key)
        local row = p.prefix .. ':vis:' .. run
        vcall('HSET', row, 'id', id, 'type', wtype, 'queue', queue, 'status',
              'RUNNING', 'start', start)
        if memo and memo ~= '' then vcall('HSET', row, 'memo', memo) end
        vcall('ZADD', p.start, start, run)
        vcall('ZADD', p.running, start, run)
        vcall('ZADD', index_key(p, 'type', wtype), start, run)
        if prepared and #prepared > 0 then
            sa_apply(p.prefix, run, start, prepared)
        end
    end

    -- vis_row_start returns the start ms of w's run's row, writing the
    -- row first for a run started before rows existed (an upgrade).
    vis_row_start = function(w)
        local prefix = slot_prefix_of(w.k.wf)
        local start = vcall('HGET', prefix .. ':vis:' .. w.run, 'start')
        if type(start) == 'string' then return start end
        local v = redis.call('HMGET', w.k.wf, 'type', 'queue', 'start_ms')
        local ms = str(tonumber(v[3]) or w.now)
        vis_start(w.k.wf, w.id, w.run, v[1] or '', v[2] or '', ms)
        return ms
    end

    -- vis_close moves w's run to its closed status. The row's start is
    -- the hash's start_ms (read by load_wf, rather than a command to read
    -- the row): a row that the HSET finds without a status (a run started
    -- before rows existed: an upgrade) is written first, then closed.
    -- Returns the partition's key names (part_keys).
    vis_close = function(w, status)
        local p, run, closed = part_keys(w.k.wf), w.run, now_str(w)
        local row = p.prefix .. ':vis:' .. run
        local start = w.start_ms
        local added = vcall('HSET', row, 'status', status, 'close', closed)
        if added == 2 or not start or start == '' then
            start = vis_row_start(w)
            vcall('HSET', row, 'status', status, 'close', closed)
        end
        vcall('ZREM', p.running, run)
        vcall('ZADD', index_key(p, 'status', status), start, run)
        vcall('ZADD', p.close, closed, run)
        return p
    end
end

-- vis_carry: what a reset's new run keeps of the run it was reset from,
-- as Temporal's reset does: the memo and the search attributes, in the
-- form start_run takes ({memo, sa}).
local function vis_carry(wf_key, src)
    local prefix = slot_prefix_of(wf_key)
    local flat = vcall('HGETALL', prefix .. ':vis:' .. src)
    local carry = {sa = {}}
    if type(flat) ~= 'table' then return carry end
    for i = 1, #flat, 2 do
        local f, v = flat[i], flat[i + 1]
        if f == 'memo' then
            carry.memo = v
        elseif string.sub(f, 1, 2) == 'a:' then
            local kw
            if string.sub(v, 1, 1) == 'K' then
                local ok, d = pcall(cjson.decode, string.sub(v, 2))
                if ok then kw = d end
            end
            carry.sa[#carry.sa + 1] = {string.sub(f, 3), v, kw}
        end
    end
    return carry
end

-- vis_purge removes run's visibility row and its index entries (a run
-- of workflow id removed by retention or `duro workflow delete`): 1 when
-- it had a row. Without one, the run's vx:start and vx:close entries
-- still go (all the sweep knows of it may be its vx:close entry). A row
-- of another workflow (a run id given with the wrong workflow id: rows
-- are keyed by run alone) is not this call's: nothing goes, 0.
local function vis_purge(wf_key, run, id)
    local prefix = slot_prefix_of(wf_key)
    local row = prefix .. ':vis:' .. run
    local flat = vcall('HGETALL', row)
    if type(flat) ~= 'table' or #flat == 0 then
        vcall('ZREM', prefix .. ':vx:start', run)
        vcall('ZREM', prefix .. ':vx:close', run)
        return 0
    end
    local r = {}
    for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
    if r.id and r.id ~= id then return 0 end
    vcall('ZREM', prefix .. ':vx:start', run)
    vcall('ZREM', prefix .. ':vx:close', run)
    if r.status then vcall('ZREM', prefix .. ':vx:status:' .. r.status, run) end
    if r.type then vcall('ZREM', prefix .. ':vx:type:' .. r.type, run) end
    for f, v in pairs(r) do
        if string.sub(f, 1, 2) == 'a:' and string.sub(v, 1, 1) == 'K' then
            local ok, d = pcall(cjson.decode, string.sub(v, 2))
            if ok then
                vcall('ZREM', prefix .. ':vx:kw:' .. string.sub(f, 3) .. ':' ..
                          d, run)
            end
        end
    end
    vcall('DEL', row)
    return 1
end

-- ---- Crossing partitions (docs/internals.md, "Crossing partitions") ----

-- A change to another partition (start a child, report to a parent,
-- signal or cancel another workflow) is an outbox record: its body (JSON
-- of strings, payloads kept as text) in the partition's outbox hash under
-- its id `<run>.<a>.<b>`, and a member 'o|<run>|<a>|<b>|-|-|<id>' in the
-- partition's timers, due now (id: the workflow it lives with, so the
-- member names this partition). The scheduler takes it (duro_xfer_take:
-- a lease), applies it to its target's partition (duro_xfer_apply,
-- idempotent by the record id), then acks it (duro_xfer_ack). An outcome
-- to report goes back as another record, written by the apply.

-- XFER: the record kinds (member field b), so that a record and the
-- report it causes have distinct ids.
local XFER = {start = 1, started = 2, closed = 3, signal = 4,
              signal_reply = 5, cancel = 6, cancel_reply = 7, policy = 8}
local XFER_LEASE_MS = 10000
-- XFER_MARK_TTL_MS: how long a target remembers an applied record (far
-- beyond any lease: a record is retried within seconds)
local XFER_MARK_TTL_MS = 604800000

-- outbox_of: the outbox hash of key's partition (same slot).
local function outbox_of(key)
    return slot_prefix_of(key) .. ':outbox'
end

local function xfer_rid(run, a, b)
    return run .. '.' .. a .. '.' .. b
end

-- xfer_put writes record (run, a, b) living with workflow id: its body in
-- outbox, its member in timers due now (waking the schedulers).
local function xfer_put(outbox, timers, now, id, run, a, b, body)
    redis.call('HSET', outbox, xfer_rid(run, a, b), cjson.encode(body))
    add_timer(timers, now, timer_member('o', run, a, b, '-', '-', id))
end

-- json_obj decodes a field this library wrote as a JSON object ({} when
-- absent or damaged).
local function json_obj(s)
    if not s or s == '' then return {} end
    local ok, v = pcall(cjson.decode, s)
    if ok and type(v) == 'table' then return v end
    return {}
end

-- child_run: the run id of the child a parent run starts as its seq-th
-- child: derived, so the record, the parent's bookkeeping and the child
-- agree on it without a random source.
local function child_run(prun, seq)
    local h = redis.sha1hex('child/' .. prun .. '/' .. seq)
    return string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-' ..
               string.sub(h, 13, 16) .. '-' .. string.sub(h, 17, 20) .. '-' ..
               string.sub(h, 21, 32)
end

local CHILD_CLOSE_EVENT = {COMPLETED = 'ChildWorkflowCompleted',
                           FAILED = 'ChildWorkflowFailed',
                           CANCELED = 'ChildWorkflowCanceled',
                           TERMINATED = 'ChildWorkflowTerminated',
                           TIMED_OUT = 'ChildWorkflowTimedOut'}

-- A parent's open children: `children` counts them, `child_max` is the
-- highest seq started, field `child:<seq>` holds each ({id, run, policy,
-- started}), so that a child's report reads and writes its own field only.

-- take_children removes and returns a closing run's open children as
-- {seq, c} (HMGET in pages: unpack's limit on arguments).
local function take_children(w)
    if (tonumber(w.children) or 0) <= 0 then return {} end
    local max = tonumber(w.child_max or
                         redis.call('HMGET', w.k.wf, 'child_max')[1]) or 0
    local out = {}
    for lo = 1, max, 1000 do
        local names = {}
        for s = lo, math.min(lo + 999, max) do
            names[#names + 1] = 'child:' .. s
        end
        local v = redis.call('HMGET', w.k.wf, unpack(names))
        local gone = {}
        for i = 1, #names do
            if v[i] then
                out[#out + 1] = {seq = lo + i - 1, c = json_obj(v[i])}
                gone[#gone + 1] = names[i]
            end
        end
        if #gone > 0 then redis.call('HDEL', w.k.wf, unpack(gone)) end
    end
    return out
end

-- xfer_close: a closing run reports its close to its parent (a child's
-- `parent`) and applies its close policy to its open children.
local function xfer_close(w, status, field, value)
    -- a run that never had a parent or a child (most: neither field was
    -- ever written) has nothing to report or to apply
    if not w.parent and not w.children then return end
    -- a continued run's chain goes on: its next run keeps the parent,
    -- which hears of the chain's close, not of this run's
    local parent = status ~= 'CONTINUED_AS_NEW' and w.parent and
                       w.parent ~= '' and json_obj(w.parent)
    -- a parent field damaged by hand (not the {id, run, seq} of strings
    -- xfer_start wrote) is no parent: the run still closes
    local pseq = parent and type(parent.seq) == 'string' and
                     string.match(parent.seq, '^[1-9]%d*$')
    if not (pseq and type(parent.id) == 'string' and
            type(parent.run) == 'string') then
        parent = nil
    end
    local children = take_children(w)
    w.dirty.children, w.dirty.child_max = nil, nil
    if w.children then redis.call('HDEL', w.k.wf, 'children', 'child_max') end
    if not parent and #children == 0 then return end
    local outbox = outbox_of(w.k.wf)
    local timers = w.k.timers or (slot_prefix_of(w.k.wf) .. ':timers')
    if parent then
        xfer_put(outbox, timers, w.now, w.id, w.run, 0, XFER.closed,
                 {op = 'deliver', id = parent.id, run = parent.run,
                  event = CHILD_CLOSE_EVENT[status], child = pseq,
                  data = '{"seq":' .. pseq .. ',"workflowId":' ..
                      json_str(w.id) .. ',"runId":"' .. w.run .. '","' ..
                      field .. '":' .. value .. '}'})
    end
    for _, sc in ipairs(children) do
        local seq, c = sc.seq, sc.c
        if c.policy ~= 'Abandon' then
            local reason = 'parent ' .. w.id .. ' closed (' .. status .. ')'
            -- parent, parent_run: the policy reaches the child's chain
            -- (a run it continued as new keeps its parent), not only the
            -- run that started
            xfer_put(outbox, timers, w.now, w.id, w.run, seq, XFER.policy,
                     {op = c.policy == 'RequestCancel' and 'cancel' or
                          'terminate', id = c.id, run = c.run,
                      parent = w.id, parent_run = w.run,
                      data = '{"reason":' .. json_str(reason) .. '}'})
        end
    end
end

-- Retention: a closed run's hash and history expire RETENTION_GRACE after
-- its namespace's retention, stamped at start (field `retention`, absent
-- for the default 72h): the scheduler's sweep removes them, archiving
-- first, at the retention itself; the expiry is the backstop for an
-- older run's history and for a project without a scheduler.
local DEFAULT_RETENTION = 259200000

-- retention_ttl: that expiry (ms, as text) for a run's `retention` field
-- (nil or false: the default's, formatted once: a library's chunk cannot
-- reach math or string while it loads, hence on its first use).
local retention_ttl
do
    -- MAX: 100 years, the longest retention an expiry takes: a longer one
    -- (junk written into the registry by hand) overflows PEXPIRE, and every
    -- close of the run would fail
    local MAX = 3155760000000
    local function ttl(ms) return str(ms + math.floor(ms / 10) + 5000) end
    local default_ttl
    retention_ttl = function(retention)
        local ms = retention and tonumber(retention)
        if ms and ms > 0 then return ttl(ms < MAX and ms or MAX) end
        default_ttl = default_ttl or ttl(DEFAULT_RETENTION)
        return default_ttl
    end
end

-- reply_key_ok: a caller's reply list must be a reply key of this
-- partition, so that no update writes any other key: checked when
-- duro_update records it, and again when answer_waiters answers it (a
-- record edited by hand may name any key, and the PEXPIRE would make
-- that key, duro:meta or another workflow's hash, expire).
local function reply_key_ok(k, key)
    local pre = slot_prefix_of(k.wf) .. ':qreply:'
    return key and string.sub(key, 1, #pre) == pre and #key > #pre
end

-- answer_waiters pushes outcome to the reply lists of update record rec
-- (`P <replykey>...`) that are reply keys of w's partition (pcall: a
-- reply list made something else by hand must not stop the call
-- halfway).
local function answer_waiters(w, rec, outcome)
    for key in string.gmatch(string.sub(rec, 3), '%S+') do
        if reply_key_ok(w.k, key) then
            redis.pcall('RPUSH', key, outcome)
            redis.pcall('PEXPIRE', key, 60000)
        end
    end
end

-- fail_updates: the run's updates accepted and not completed (`upend`
-- counts them, so a run without any reads nothing more) fail as the run
-- closes: their waiting callers are answered now rather than at the end
-- of their timeouts, and the outcome is recorded for a repeated id.
local function fail_updates(w, status)
    -- (most runs never had an update: no field, no tonumber)
    local pending = w.upend and tonumber(w.upend)
    if not pending or pending <= 0 then return end
    local outcome = '{"ok":false,"error":' ..
                        json_str('the workflow run closed (' .. status ..
                                     ') before the update completed') .. '}'
    local pre = 'u:' .. w.run .. ':'
    local flat = redis.call('HGETALL', w.k.wf)
    for i = 1, #flat, 2 do
        local f = flat[i]
        local rec = w.dirty[f] or flat[i + 1]
        if string.sub(f, 1, #pre) == pre and string.sub(rec, 1, 2) == 'P ' then
            answer_waiters(w, rec, outcome)
            set(w, f, outcome)
        end
    end
end

-- close ends the run: status, indexes, pending work, the close notice.
-- `field` (result or failure) gets value; the other one, empty since the
-- start, goes with the open run's fields.
local function close(w, status, field, value)
    -- the fields load_wf left out, read before the HDEL below deletes some
    -- (a run's timeouts: read below; start_ms: vis_close)
    WF_FIELDS.load(w)
    fail_updates(w, status)
    set(w, 'status', status)
    set(w, 'close_ms', now_str(w))
    set(w, field, value)
    -- what the call changed of the dropped fields is not written back; a
    -- field the call left alone is not cleared (in Lua 5.1 assigning nil
    -- to a missing key adds it, growing the table)
    local dirty = w.dirty
    for j = 1, #CLOSED_DROP do
        local f = CLOSED_DROP[j]
        if dirty[f] ~= nil then dirty[f] = nil end
    end
    redis.call('HDEL', w.k.wf, unpack(CLOSED_DROP[field]))
    w.wft, w.wft_entry, w.bufn = '0', '', '0'
    local part = vis_close(w, status)
    xfer_close(w, status, field, value)
    redis.call('DEL', w.k.buf, w.k.pa)
    if w.exec_timeout and w.exec_timeout ~= '0' then
        redis.call('ZREM', w.k.timers,
                   timer_member('x', w.run, 0, 0, w.queue, '-', w.id))
    end
    if w.run_timeout and w.run_timeout ~= '0' then
        redis.call('ZREM', w.k.timers,
                   timer_member('n', w.run, 0, 0, w.queue, '-', w.id))
    end
    local ttl = retention_ttl(w.retention)
    redis.call('PEXPIRE', w.k.wf, ttl)
    if w.k.hist then redis.call('PEXPIRE', w.k.hist, ttl) end
    -- on a cluster a sharded channel: served by the partition's master
    -- alone, where classic pub/sub would reach every node
    redis.call(SHARDED_WAKE and 'SPUBLISH' or 'PUBLISH', part.channel, w.id)
end

-- ---- Activities ----------------------------------------------------------

-- A pending activity is two fields of the pa hash (docs/internals.md):
--   `<seq>`   its state, rewritten as the activity moves:
--             "<attempt>,<entry>,<deadline>,<hb>,<#queue>,<#details>;"
--             then queue, details and failure (the last failure) back to
--             back, their lengths in the header (no escaping: any bytes);
--   `<seq>.s` its schedule, written once:
--             "<stc>,<hbt>,<sched>,<#name>,<#opts>;" then name, opts, input.
-- A fate decision reads the small state alone (one HGET), a retry or a
-- heartbeat rewrites it without the input, resolving drops two fields.
-- Concatenation and string.sub: cheaper than cjson (which would also
-- escape the JSON of input and opts, growing the AOF and the hash).
-- (in do blocks: the main chunk's 200 locals are nearly all taken)

-- pa_names: the two field names of activity seq ({state, schedule}),
-- kept for the first 99 seqs (shared: resolve_activity copies before
-- appending to it).
local pa_names
do
    local PA_NAMES = {}
    pa_names = function(seq)
        local t = PA_NAMES[seq]
        if t then return t end
        t = {seq, seq .. '.s', shared = true}
        if type(seq) == 'string' and #seq <= 2 then PA_NAMES[seq] = t end
        return t
    end
end

local pa_sched_enc, pa_sched, pa_put, pa_state
do
    -- PA_FIELDS: the fields `<seq>.<f>` of the layout before (library 27 and
    -- older), read once by pa_upgrade for a run in flight across the upgrade.
    local PA_FIELDS = {'name', 'queue', 'input', 'opts', 'attempt', 'entry',
                       'stc', 'hbt', 'sched', 'deadline', 'hb', 'details',
                       'failure'}

    local function pa_state_enc(st)
        local q, d = st.queue or '', st.details or ''
        return (st.attempt or '1') .. ',' .. (st.entry or '') .. ',' ..
                   (st.deadline or '0') .. ',' .. (st.hb or '') .. ',' .. #q ..
                   ',' .. #d .. ';' .. q .. d .. (st.failure or '')
    end

    -- ('').find: the string library, reachable while the library loads
    local find, sub = ('').find, ('').sub

    -- pa_bad refuses activity seq's damaged record (field `field` of
    -- hash key): never read as a cut-off queue, details or input.
    local function pa_bad(key, seq, field, why)
        error({err = 'DURO_CORRUPT ' .. key .. ' pending activity record ' ..
                   field .. ' of seq ' .. tostring(seq) .. ': ' .. why})
    end

    -- The headers, matched by one find each (its captures are the
    -- fields; plain finds per comma cost more calls than they save), then
    -- the measured parts checked to fit: a record cut short or with a
    -- length past its end is refused, never read cut off.
    local STATE_HEAD = '^([^,]*),([^,]*),([^,]*),([^,]*),(%d+),(%d+);'
    local SCHED_HEAD = '^([^,]*),([^,]*),([^,]*),(%d+),(%d+);'
    -- LEAN_HEAD: a completion's fields alone (attempt, deadline), the
    -- others' shape still checked
    local LEAN_HEAD = '^([^,]*),[^,]*,([^,]*),[^,]*,(%d+),(%d+);'
    local BAD_HEAD = 'header not of its shape'

    -- entry_bad: whether e, an attempt's entry, is none that the calls
    -- reading it may ack or read as a stream id ('' waiting for its r
    -- timer, a lease `L<ms>-<seq>-<attempt>`, a stream id `<ms>-<seq>`):
    -- a record damaged by hand, refused when decoded whole, before the
    -- call's first write, where an XACK or XRANGE of it would fail with no
    -- key named, after writes (a cancel's event, a fire's timer). A
    -- completion's lean decode does not read it (it acks its own entry).
    local byte = ('').byte
    local function entry_bad(e)
        if e == '' then return false end
        if byte(e) == 76 then return not find(e, '^L%d+%-%d+%-%d+$') end
        return not find(e, '^%d+%-%d+$')
    end
    local BAD_ENTRY = 'entry not a stream id'

    local function past_end(last, len)
        return 'lengths past its end (' .. str(last) .. ' > ' .. str(len) ..
                   ' bytes)'
    end

    -- pa_state_dec: activity seq's state record (field seq of hash key) as
    -- a table ({} when rec is nil); a damaged record is refused (pa_bad).
    local function pa_state_dec(rec, key, seq)
        if not rec then return {} end
        local _, h, a, e, dl, hb, lq, ld = find(rec, STATE_HEAD)
        if not h then pa_bad(key, seq, seq, BAD_HEAD) end
        local q = h + 1 + lq -- string lengths: coerced as numbers
        local d = q + ld
        if d - 1 > #rec then pa_bad(key, seq, seq, past_end(d - 1, #rec)) end
        if entry_bad(e) then pa_bad(key, seq, seq, BAD_ENTRY) end
        return {attempt = a, entry = e, deadline = dl, hb = hb,
                queue = sub(rec, h + 1, q - 1), details = sub(rec, q, d - 1),
                failure = sub(rec, d)}
    end

    -- pa_lean_dec: the part of the state a completion reads (attempt,
    -- deadline, and queue when a deadline is set: the s timer's name), all
    -- of the record checked, in LEAN: one table rewritten whole by each
    -- read (a table made and collected per completion cost ~2k
    -- instructions), read by that call alone; pa_put refuses it (it lacks
    -- the other fields).
    local LEAN = {lean = true}
    local function pa_lean_dec(rec, key, seq)
        local _, h, a, dl, lq, ld = find(rec, LEAN_HEAD)
        if not h then pa_bad(key, seq, seq, BAD_HEAD) end
        local q = h + 1 + lq
        if q + ld - 1 > #rec then
            pa_bad(key, seq, seq, past_end(q + ld - 1, #rec))
        end
        local st = LEAN
        st.attempt, st.deadline = a, dl
        st.queue = dl ~= '0' and sub(rec, h + 1, q - 1) or nil
        return st
    end

    pa_sched_enc = function(name, opts, input, stc, hbt, sched)
        name, opts = name or '', opts or ''
        return (stc or '0') .. ',' .. (hbt or '0') .. ',' .. (sched or '') ..
                   ',' .. str(#name) .. ',' .. str(#opts) .. ';' .. name .. opts ..
                   (input or '')
    end

    -- pa_sched: activity seq's schedule record as a table (fields name, opts,
    -- input, stc, hbt, sched), {} when absent; a damaged record is refused
    -- (pa_bad). Read before the call's first write by every call that may
    -- queue an attempt (enqueue_activity takes it as sc).
    pa_sched = function(w, seq)
        local field = seq .. '.s'
        local rec = redis.call('HGET', w.k.pa, field)
        if not rec then return {} end
        local _, h, stc, hbt, sched, ln, lo = find(rec, SCHED_HEAD)
        if not h then pa_bad(w.k.pa, seq, field, BAD_HEAD) end
        local o = h + 1 + ln
        local i = o + lo
        if i - 1 > #rec then pa_bad(w.k.pa, seq, field, past_end(i - 1, #rec)) end
        return {stc = stc, hbt = hbt, sched = sched, name = sub(rec, h + 1, o - 1),
                opts = sub(rec, o, i - 1), input = sub(rec, i)}
    end

    pa_put = function(w, seq, st)
        if st.lean then error('pa_put of a lean state (pa_state lean)') end
        redis.call('HSET', w.k.pa, seq, pa_state_enc(st))
    end

    -- pa_upgrade rewrites an activity stored in the layout before (a run in
    -- flight when the library was upgraded) as the two records, once: what it
    -- writes says what the old fields said, so a call that then refuses
    -- (after its checks) leaves nothing inconsistent.
    local function pa_upgrade(w, seq)
        local f = {}
        for j = 1, #PA_FIELDS do f[j] = seq .. '.' .. PA_FIELDS[j] end
        local v = redis.call('HMGET', w.k.pa, unpack(f))
        if not v[5] then return {} end
        if v[6] and entry_bad(v[6]) then
            pa_bad(w.k.pa, seq, seq .. '.entry', BAD_ENTRY)
        end
        local st = {attempt = v[5], entry = v[6] or '', deadline = v[10] or '0',
                    hb = v[11] or '', queue = v[2] or '', details = v[12] or '',
                    failure = v[13] or ''}
        redis.call('HSET', w.k.pa, seq, pa_state_enc(st), seq .. '.s',
                   pa_sched_enc(v[1], v[4], v[3], v[7], v[8], v[9]))
        redis.call('HDEL', w.k.pa, unpack(f))
        return st
    end

    -- pa_state reads activity seq's state in one call: a table with fields
    -- attempt (nil when it is not pending), entry, queue, deadline, hb,
    -- details, failure; lean: attempt, deadline and queue alone (see
    -- pa_lean_dec), for a call that only resolves the activity.
    pa_state = function(w, seq, lean)
        local rec = read('hash', 'HGET', w.k.pa, seq)
        if rec then
            if lean then return pa_lean_dec(rec, w.k.pa, seq) end
            return pa_state_dec(rec, w.k.pa, seq)
        end
        -- the layout before: one probe, then a full read and rewrite once
        if not redis.call('HGET', w.k.pa, seq .. '.attempt') then return {} end
        return pa_upgrade(w, seq)
    end
end

-- sts_of: an activity's schedule-to-start timeout in ms from its options
-- (written by the SDK only when set), nil when it has none: one plain
-- find when unset, so activities without it pay nothing more.
local sts_of
do
    -- kept per options text (as opts_priority)
    local opts_sts = kept(function(opts)
        if not string.find(opts, 'scheduleToStartMs', 1, true) then
            return nil
        end
        local ms = tonumber(string.match(opts, '"scheduleToStartMs":(%d+)'))
        return ms and ms > 0 and ms or nil
    end, 1024)

    sts_of = function(opts)
        return opts and opts_sts(opts) or nil
    end
end

-- arm_sts adds the 'q' timer of an attempt just queued when its activity
-- has a schedule-to-start timeout (see TASK.plan). An attempt queued again
-- (handed back, or put back because its concurrency key was full) keeps
-- its first deadline: it has not started yet. from: when the attempt was
-- first queued, for a lease handed back (LEASE: started, so no q timer
-- was armed then): armed at from + its schedule-to-start, as the q timer
-- of a stream entry read at `from` would still be; none when that is
-- past (that q timer would have fired `ignored` while the entry ran).
local function arm_sts(w, act, seq, attempt, opts, from)
    local ms = sts_of(opts)
    if not ms or from and from + ms <= w.now then return end
    local member = timer_member('q', w.run, seq, attempt, w.queue,
                                queue_of(act), w.id)
    if redis.call('ZSCORE', w.k.timers, member) then return end
    add_timer(w.k.timers, (from or w.now) + ms, member)
end

-- enqueue_activity puts an attempt in the queue and records its entry in
-- st, the activity's state (pa_state, with the attempt's fields set),
-- written once here; name, input and opts come from its schedule record
-- sc (pa_sched, read by the caller before its first write: a damaged one
-- then refuses the call whole). from: when a lease handed back was
-- first queued (arm_sts), nil for now.
local function enqueue_activity(w, act, seq, attempt, st, sc, from)
    local v = {sc.name or '', sc.input or '', sc.opts or '', st.details}
    local entry
    -- act names the attempt's stream as recorded: a fair one rings too
    local s, fkey = split_fair(act)
    if v[4] and v[4] ~= '' then
        entry = fair_xadd(s, fkey, nil, 'id', w.id, 'run', w.run, 'seq', seq,
                          'attempt', tostring(attempt), 'name', v[1],
                          'input', v[2], 'opts', v[3], 'wfqueue', w.queue,
                          'details', v[4])
    else
        entry = fair_xadd(s, fkey, nil, 'id', w.id, 'run', w.run, 'seq', seq,
                          'attempt', tostring(attempt), 'name', v[1],
                          'input', v[2], 'opts', v[3], 'wfqueue', w.queue)
    end
    st.entry = entry
    pa_put(w, seq, st)
    arm_sts(w, act, seq, attempt, v[3], from)
end

-- resolve_activity removes a pending activity and delivers its outcome
-- (appended directly, without scheduling a task, when `direct`). Its
-- fields go when the call ends (flush), unless the call closed the run:
-- the eager commit of a run's last activity then needs no HDEL.
local function resolve_activity(w, seq, etype, data, st, direct)
    st = st or pa_state(w, seq)
    local drop, names = w.pa_drop, pa_names(seq)
    if not drop then
        -- the one activity most calls resolve: its names as pa_names
        -- keeps them (flush only unpacks them)
        w.pa_drop = names
    else
        if drop.shared then -- a pa_names table: copied, not appended to
            drop = {drop[1], drop[2]}
        end
        local n = #drop
        drop[n + 1], drop[n + 2] = names[1], names[2]
        w.pa_drop = drop
    end
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
    local st = pa_state(w, seq)
    local v = {st.attempt, st.entry, st.queue}
    if not v[1] then return end
    -- the queue recorded names the level's and key's stream ("<queue>!N~K")
    ack(string.match(act, '^(.-:act:)') .. (v[3] or queue_of(act)), v[2])
    redis.call('ZREM', w.k.timers,
               timer_member('r', w.run, seq, v[1], w.queue, v[3], w.id),
               timer_member('s', w.run, seq, 0, w.queue, v[3], w.id),
               timer_member('q', w.run, seq, v[1], w.queue, v[3], w.id),
               LEASE.member(w, seq, v[1], v[3]))
    redis.call('HDEL', w.k.pa, unpack(pa_names(seq)))
end

-- retry_or_resolve retries a failed attempt when the policy's delay allows
-- it before the schedule-to-close deadline, else resolves the activity.
-- sc: the schedule record (pa_sched), needed when delay is 0 (queued now).
local function retry_or_resolve(w, act, seq, attempt, delay, failure,
                                etype, data, st, sc)
    if TASK.retries(w, st, delay) then
        local next_attempt = attempt + 1
        st.attempt, st.failure, st.hb, st.entry = tostring(next_attempt),
                                                  failure, '', ''
        if delay == 0 then
            enqueue_activity(w, act, seq, next_attempt, st, sc)
        else
            pa_put(w, seq, st)
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

-- fair_drop: key fkey leaves the ready set with no task counted.
local function fair_drop(ready, meta, fkey)
    redis.call('ZREM', ready, fkey)
    redis.call('HDEL', meta, 'n:' .. fkey)
end

-- duro_fair_next 1 stream  bell [empty_key added]
-- A worker read bell `bell` of task stream `stream` (see "Fairness"
-- above); empty_key: the key whose stream it found empty after the turn
-- this call gave it, `added` its add count then (dropped unless a task
-- was added since). Returns {key's stream, added} for the key to read, or
-- nil after acking and deleting the bell when no key is ready.
local function duro_fair_next(keys, args)
    local s, bell, empty, added = keys[1], args[1], args[2], args[3]
    if not s or not bell then
        return fail('DURO_BADARG', 'duro_fair_next 1 stream bell')
    end
    local ready, meta = s .. '~', s .. '~~'
    if empty and empty ~= '' and
        redis.call('HGET', meta, 'a:' .. empty) == added then
        fair_drop(ready, meta, empty)
    end
    local top = redis.call('ZRANGE', ready, 0, 0, 'WITHSCORES')
    if #top == 0 then
        ack(s, bell)
        return nil
    end
    local fkey, v = top[1], tonumber(top[2])
    local wt = tonumber(redis.call('HGET', meta, 'w:' .. fkey)) or 1
    redis.call('ZADD', ready, string.format('%.17g', v + 1 / wt), fkey)
    redis.call('HSET', meta, FAIR_V, string.format('%.17g', v))
    return {s .. '~' .. fkey, redis.call('HGET', meta, 'a:' .. fkey) or '0'}
end

-- duro_fair_took 1 stream  bell key
-- The worker took a task of key's stream for bell `bell`: the bell is
-- acked (then trimmed), the key's count goes down and at 0 the key leaves
-- the ready set.
local function duro_fair_took(keys, args)
    local s, bell, fkey = keys[1], args[1], args[2]
    if not s or not bell or not fkey then
        return fail('DURO_BADARG', 'duro_fair_took 1 stream bell key')
    end
    ack(s, bell)
    local meta = s .. '~~'
    if redis.call('HINCRBY', meta, 'n:' .. fkey, -1) <= 0 then
        fair_drop(s .. '~', meta, fkey)
    end
    return 'ok'
end

-- duro_version 0
local function duro_version()
    return DURO_LIBRARY_VERSION
end

-- start_run writes a new run: hash, WorkflowStarted, the first task. An
-- extra inbound event (signal-with-start) goes in before that task is
-- enqueued, so the first task sees it. vis: the run's memo and search
-- attributes (start_vis). fill(w), when given, writes the run's first
-- events instead (a reset: the old run's, WorkflowStarted included).
-- args.priority: the run's priority ('1'..'5' but '3', or nil).
-- args.prev, when given, holds the hash's token, retention and priority,
-- read by the caller in the same call (nothing wrote them since).
-- args.run_timeout (ms, 0: none) limits this run alone (an 'n' timer);
-- args.exec_deadline, when given, is the absolute time the execution
-- timeout ends (a continued run keeps its chain's), else start +
-- exec_timeout. Returns the run id.
local start_run
do
    -- ms_text: the text str gives of argument text v (a workflow task
    -- timeout), nil when v is no number; kept by v: a start's timeouts
    -- are a few values, and a string.format costs as much as a small
    -- command
    local ms_text = kept(function(v)
        local n = num(v)
        return n and str(n)
    end, 256)

    start_run = function(k, args, extra_type, extra_data, vis, fill)
        local id, run, wtype, queue, input, started = args[1], args[2], args[3],
                                                      args[4], args[5], args[6]
        local exec_timeout = num(args[7]) or 0
        local wft_timeout = num(args[8]) or 10000
        -- WorkflowStarted tells workers a task timeout other than the
        -- default: a local activity's budget within the task is four
        -- fifths of it (worker/src/sdk_local.c); args[6] for a continued
        -- run's fill
        if wft_timeout ~= 10000 and started and #started > 2 and
            string.sub(started, -1) == '}' then
            started = string.sub(started, 1, -2) .. ',"taskTimeoutMs":' ..
                          str(wft_timeout) .. '}'
            args[6] = started
        end
        local run_timeout = num(args.run_timeout) or 0
        local now = now_ms()
        local nows = str(now)
        local pv = args.prev or
                       redis.call('HMGET', k.wf, 'token', 'retention',
                                  'priority', 'fkey', 'fweight')
        local prev = pv[1]
        -- a reset's fill writes the new pending activities: their hash goes
        -- first; otherwise after the task's XADD, which may be the call's
        -- first write (duro_start)
        if fill then redis.call('DEL', k.buf, k.pa, k.hist) end
        -- what a reset recorded describes the run it made, not this one
        -- (and the fields a start no longer writes empty, below: an earlier
        -- run's result, failure and close time; wft_error and
        -- cancel_requested go at its close, but in a hash of library 30)
        if prev then
            redis.call('HDEL', k.wf, 'reset_from', 'reset_reason',
                       'continued_from', 'parent', 'children', 'child_max',
                       'result', 'failure', 'close_ms', 'wft_error',
                       'cancel_requested')
        end
        -- the hash of a closed run expires (close): not this new run's
        if prev then redis.call('PERSIST', k.wf) end
        local ets, rts = str(exec_timeout), str(run_timeout)
        -- the new run's fields: written as set() would, in two constructors
        -- sized once (a table grown field by field rehashes as it grows:
        -- token and hlen, which every start writes later, are named so
        -- that the table gets 32 slots, room for them and the options).
        -- result, failure, close_ms, wft_error and cancel_requested are not
        -- written empty ('', '0'): every reader takes a missing one so (~100 B
        -- less per start in the AOF); a close or a set() writes them
        local dirty = {run = run, type = wtype, queue = queue,
                       status = 'RUNNING', input = input, start_ms = nows,
                       wft = '0', wft_entry = '', wft_attempt = '1',
                       wft_timeout = args[8] and ms_text(args[8]) or
                           str(wft_timeout),
                       exec_timeout = ets, bufn = '0', sticky = '',
                       wft_sticky = '', run_timeout = rts, opt = '0',
                       token = false, hlen = false}
        dirty.token, dirty.hlen = nil, nil
        -- the context: the fields load_wf would read (type, input and the
        -- empty ones are no context's: no reader takes them from one). Its
        -- 22 fields size it to 32 slots, one allocation: the ones a call
        -- adds later (hnew, hdirty, priority, ...) fit without growing it
        local w = {k = k, now = now, nows = nows, dirty = dirty, id = id,
                   first = WF_FIELDS.start, hlen = 0, token = prev or '0',
                   run = run, queue = queue, status = 'RUNNING',
                   start_ms = nows, wft = '0', wft_entry = '',
                   wft_attempt = '1', wft_timeout = dirty.wft_timeout,
                   exec_timeout = ets, bufn = '0', sticky = '',
                   wft_sticky = '', run_timeout = rts, opt = '0'}
        LOADED[#LOADED + 1] = w
        if args.priority then
            set(w, 'priority', args.priority)
        elseif pv[3] then
            redis.call('HDEL', k.wf, 'priority') -- an earlier run's
        end
        if args.fkey then
            set(w, 'fkey', args.fkey)
            if args.fweight then set(w, 'fweight', args.fweight) end
        end
        if pv[4] and not args.fkey then redis.call('HDEL', k.wf, 'fkey') end
        if pv[5] and not args.fweight then
            redis.call('HDEL', k.wf, 'fweight')
        end
        local retention = num(args.retention)
        if retention and retention > 0 and retention ~= DEFAULT_RETENTION then
            set(w, 'retention', str(retention))
            w.retention = str(retention)
        elseif pv[2] then
            redis.call('HDEL', k.wf, 'retention') -- an earlier run's
        end
        if fill then
            fill(w)
        else
            append(w, 'WorkflowStarted', started)
            if extra_type then append(w, extra_type, extra_data) end
        end
        -- a plain start's task carries the run's one event (enqueue_wft)
        local h1 = w.hlen == 1 and w.hnew and w.hnew[1]
        if h1 and #h1 > FIRST_EVENT_INLINE then h1 = nil end
        schedule_wft(w, h1 or nil)
        if not fill then redis.call('DEL', k.buf, k.pa, k.hist) end
        vis_start(k.wf, id, run, wtype, queue, nows, vis and vis.memo,
                  vis and vis.sa)
        if exec_timeout > 0 then
            add_timer(k.timers,
                      tonumber(args.exec_deadline) or now + exec_timeout,
                      timer_member('x', run, 0, 0, queue, '-', id))
        end
        if run_timeout > 0 then
            add_timer(k.timers, now + run_timeout,
                      timer_member('n', run, 0, 0, queue, '-', id))
        end
        return run
    end
end

-- start_vis checks a start's memo and search attributes (ARGV memo_at,
-- memo_at + 1) before anything is written: {memo, sa} or nil and the
-- error to answer.
local start_vis
do
    -- a start with neither (most): nothing to check (no registry read),
    -- one table for them all (read only)
    local NONE = {}
    start_vis = function(k, args, memo_at)
        local memo, attrs = args[memo_at], args[memo_at + 1]
        if (memo == nil or memo == '') and (attrs == nil or attrs == '') then
            return NONE
        end
        local sa, err = sa_prepare(slot_prefix_of(k.wf), attrs)
        if not sa then return nil, fail('DURO_BADARG', err) end
        return {memo = memo, sa = sa}
    end
end

-- start_args_ok: ARGV holds the six arguments every start needs (a list
-- without holes: its sixth there, the five before it are)
local function start_args_ok(args)
    return args[6] ~= nil
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
    -- closing writes the outbox: a damaged one refuses the start whole
    local bad = check_close(kc, w)
    if bad then return bad end
    local reason = 'terminated by a new run ' .. run ..
                       ' (id reuse policy TerminateIfRunning)'
    terminate_run(w, '{"reason":' .. json_str(reason) .. '}', reason)
    -- written now: the new run's context rewrites the same hash fields
    flush(w)
    return nil
end

-- duro_start 8|9 wf hist buf wft timers pa idx_open idx_closed [hist_cur]
--            id run type queue input started_data exec_timeout_ms
--            wft_timeout_ms [policy [cur_run [retention_ms [memo
--            [search_attrs [run_timeout_ms [priority [fairness_key
--            fairness_weight]]]]]]]]
-- policy is an id reuse policy (default AllowDuplicate); TerminateIfRunning
-- with a RUNNING run needs that run's id (cur_run, "" otherwise) and
-- history (hist_cur). memo (JSON text, stored as is) and search_attrs (a
-- JSON object, typed by the partition's registry copy) go to the run's
-- visibility row. priority: 1..5 ('' or 3: the default; see prio_stream).
local function duro_start(k, args)
    if not start_args_ok(args) then
        return fail('DURO_BADARG', 'duro_start needs 8 arguments')
    end
    local policy = args[9] or 'AllowDuplicate'
    if not REUSE[policy] then
        return fail('DURO_BADARG', 'unknown id reuse policy ' .. policy)
    end
    -- (most starts give neither: no call to check what is not there)
    local priority = args[15] and priority_arg(args[15])
    if priority == false then
        return fail('DURO_BADARG', 'priority must be 1..5')
    end
    local fkey = args[16] and fair_key_arg(args[16])
    local fweight = args[17] and fair_weight_arg(args[17])
    if fkey == false or fweight == false then
        return fail('DURO_BADARG', 'fairness key must be 1..64 of ' ..
                        '[A-Za-z0-9._:-], its weight 1..1000')
    end
    -- in the order start_run takes them as args.prev (token, retention,
    -- priority, fkey, fweight), then status and run: the reply itself is
    -- handed on, not copied
    local prev = read('hash', 'HMGET', k.wf, 'token', 'retention',
                      'priority', 'fkey', 'fweight', 'status', 'run')
    local status = prev[6]
    local refused = reuse_refused(policy, status, prev[7])
    if refused then return refused end
    local vis, bad = start_vis(k, args, 12)
    if not vis then return bad end
    -- timers: written by an execution or run timeout, or by closing the
    -- running run (TerminateIfRunning), not by most starts
    if (num(args[7]) or 0) > 0 or (num(args[14]) or 0) > 0 or
        status == 'RUNNING' then
        local wrong = check_types({k.timers}, {'zset'})
        if wrong then return wrong end
    end
    -- wft: a new id's first write is its task's XADD, which answers
    -- DURO_WRONGTYPE itself (task_xadd), so it needs no TYPE; an id with
    -- a hash (start_run's PERSIST and HDELs, a TerminateIfRunning close)
    -- or a fairness key (its stream's bookkeeping comes first) does
    if fkey or prev[1] or prev[2] or prev[3] or prev[4] or prev[5] or
        status or prev[7] then
        local wrong = check_types({k.wft}, {'stream'})
        if wrong then return wrong end
    end
    -- and the level's stream and fair keys its task writes (TASK.written)
    if priority or fkey then
        local wrong = TASK.check(k.wft, priority, fkey)
        if wrong then return wrong end
    end
    if status == 'RUNNING' then
        local stale = terminate_for(k, k.hist_cur, args[10] or '', args[2])
        if stale then return stale end
    else
        args.prev = prev
    end
    -- start_run's named arguments, in ARGV's table: only those given (a
    -- field added grows the table: nil added to a missing key too)
    args.retention = args[11]
    if args[14] then args.run_timeout = args[14] end
    if priority then args.priority = priority end
    if fkey then args.fkey, args.fweight = fkey, fweight end
    return start_run(k, args, nil, nil, vis)
end

-- load_running loads the workflow for an inbound event to run `run`:
-- returns its context, or nil and the error to answer.
local function load_running(k, run)
    local w = load_wf(k, nil, WF_FIELDS.hot.wft)
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
    local wrong = TASK.wft_check(w, true)
    if wrong then return wrong end
    deliver(w, 'SignalReceived', data)
    return w.run
end

-- duro_signal_with_start 9 wf hist buf wft timers pa idx_open idx_closed hist_cur
--     id run type queue input started_data exec_timeout_ms wft_timeout_ms
--     signal_data cur_run [policy [retention_ms [memo [search_attrs
--     [run_timeout_ms [priority [fairness_key fairness_weight]]]]]]]
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
        local wrong = TASK.wft_check(w, true)
        if wrong then return wrong end
        deliver(w, 'SignalReceived', signal)
        return {cur_run, 'signaled'}
    end
    local refused = reuse_refused(policy, prev[1], prev[2])
    if refused then return refused end
    local vis, bad = start_vis(k, args, 13)
    if not vis then return bad end
    args.priority = priority_arg(args[16])
    args.fkey, args.fweight = fair_key_arg(args[17]), fair_weight_arg(args[18])
    if args.priority == false or args.fkey == false or args.fweight == false then
        return fail('DURO_BADARG', 'priority must be 1..5, a fairness key ' ..
                        '1..64 of [A-Za-z0-9._:-], its weight 1..1000')
    end
    if not args.fkey then args.fweight = nil end
    local wrong = TASK.check(k.wft, args.priority, args.fkey)
    if wrong then return wrong end
    args.retention = args[12]
    args.run_timeout = args[15]
    return {start_run(k, args, 'SignalReceived', signal, vis), 'started'}
end

-- duro_cancel 4 wf hist buf wft  run data
local function duro_cancel(k, args)
    local run, data = args[1], args[2] or '{}'
    local w, err = load_running(k, run)
    if not w then return err end
    if redis.call('HGET', k.wf, 'cancel_requested') == '1' then
        return 'already'
    end
    local wrong = TASK.wft_check(w, true)
    if wrong then return wrong end
    set(w, 'cancel_requested', '1')
    deliver(w, 'CancelRequested', data)
    return 'ok'
end

-- ---- Updates (docs/internals.md, "Updates") -------------------------------

-- An update's record is the workflow hash field `u:<run>:<updateId>`:
-- `P <replykey>...` while accepted and not completed (the reply lists of
-- the callers waiting), the outcome `{"ok":...}` once completed. So a
-- repeated update id is never applied twice, and gets the recorded
-- outcome, even after a crash between acceptance and completion.
local UPDATE_WAITERS = 8

local function update_field(run, uid)
    return 'u:' .. run .. ':' .. uid
end

-- duro_update 4 wf hist buf wft  run update_id data reply_key
-- An update the worker's validator accepted: appends (or buffers)
-- UpdateAccepted(data) and records the caller's reply list, once per
-- update id. Returns {"done", outcome} for an update id already
-- completed (whatever the run's status since), {"accepted"} or
-- {"waiting"} (accepted before, not completed: the caller is added to
-- its waiters). DURO_NOT_FOUND, DURO_NOT_RUNNING <status>, DURO_STALE.
local function duro_update(k, args)
    local run, uid, data, reply = args[1], args[2], args[3], args[4]
    if not (run and uid and uid ~= '' and data and reply_key_ok(k, reply)) then
        return fail('DURO_BADARG', 'duro_update arguments')
    end
    local field = update_field(run, uid)
    local rec = read('hash', 'HGET', k.wf, field)
    if rec and string.sub(rec, 1, 1) == '{' then return {'done', rec} end
    -- neither an outcome nor waiters (edited by hand): no UpdateAccepted
    -- of it would ever complete, so its callers would wait in vain
    if rec and string.sub(rec, 1, 2) ~= 'P ' then
        return fail('DURO_CORRUPT', 'update record ' .. field ..
                        ' is neither an outcome nor P <replykey>...')
    end
    local w, err = load_running(k, run)
    if not w then return err end
    if rec then
        -- accepted before: wait with the others (the oldest waiters go
        -- first when there are too many: they gave up long ago)
        local keys = {}
        for key in string.gmatch(string.sub(rec, 3), '%S+') do
            keys[#keys + 1] = key
        end
        keys[#keys + 1] = reply
        local from = math.max(1, #keys - UPDATE_WAITERS + 1)
        set(w, field, 'P ' .. table.concat(keys, ' ', from))
        return {'waiting'}
    end
    local wrong = TASK.wft_check(w, true)
    if wrong then return wrong end
    deliver(w, 'UpdateAccepted', data)
    set(w, field, 'P ' .. reply)
    set(w, 'upend', str((tonumber(w.upend) or 0) + 1))
    return {'accepted'}
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
-- it runs while the library loads, which has no pairs/ipairs). A kind's
-- `load` (apply_commands reads its fields through it) is held to its
-- fields here: each field must get its own argument.
local function command(kind)
    kind.arity = #kind.fields
    local probe = {}
    for j = 1, kind.arity do
        if kind.fields[j] == 'key' then kind.key_at = j end
        if kind.fields[j] == 'key2' then kind.key2_at = j end
        probe[j + 1] = kind.fields[j]
    end
    if kind.load then
        local c = {}
        kind.load(c, probe, 1)
        for j = 1, kind.arity do
            if c[kind.fields[j]] ~= kind.fields[j] then
                error('load does not follow the fields at ' .. kind.fields[j])
            end
        end
    end
    return kind
end

-- schedule_activity makes activity c (seq, name, input, opts, stc, hbt,
-- stc2) pending with its first attempt queued in stream act: a scheduling
-- command, or a reset re-creating what was pending at its point.
local function schedule_activity(w, act, c)
    act = prio_stream(act, act_priority(w, c.opts))
    local stc2 = num(c.stc2) or 0
    -- leased (started by the committing worker): no stream entry, and no
    -- schedule-to-start timer (the lease starts it); LEASE.plan leases
    -- none with a fairness key, so fkey is read only for the stream
    local entry = w.lease and LEASE.take(w, c, act)
    local leased, fkey, fw = entry, nil, nil
    if not entry then
        fkey, fw = act_fairness(w, c.opts)
        if fkey == '' then fkey = nil end
        entry = fair_xadd(act, fkey, fw, 'id', w.id, 'run', w.run, 'seq',
                          c.seq, 'attempt', '1', 'name', c.name, 'input',
                          c.input, 'opts', c.opts, 'wfqueue', w.queue)
    end
    if fkey then act = act .. '~' .. fkey end
    local q = queue_of(act)
    -- str(#q): a number concatenated is formatted by sprintf('%.14g')
    redis.call('HSET', w.k.pa, c.seq,
               '1,' .. entry .. ',' .. (stc2 > 0 and str(w.now + stc2) or '0') ..
                   ',,' .. str(#q) .. ',0;' .. q, c.seq .. '.s',
               pa_sched_enc(c.name, c.opts, c.input, c.stc, c.hbt, now_str(w)))
    if stc2 > 0 then
        add_timer(w.k.timers, w.now + stc2,
                  timer_member('s', w.run, c.seq, 0, w.queue, queue_of(act),
                               w.id))
    end
    if not leased then arm_sts(w, act, c.seq, 1, c.opts) end
end

COMMANDS.activity = command{
    fields = {'seq', 'data', 'key', 'name', 'input', 'opts', 'stc', 'hbt',
              'stc2'},
    -- stc2 (field 9) > 0 adds an s timer, a schedule-to-start in opts
    -- (field 6) a q timer (the lists made once: a table per call costs
    -- its allocation and collection)
    pa = {'pa'}, pa_timers = {'pa', 'timers'},
    -- load: apply_commands' reading of the fields, spelled out for the
    -- most frequent command (a loop over `fields` costs twice as much)
    load = function(c, args, i)
        c.seq, c.data, c.key, c.name, c.input, c.opts, c.stc, c.hbt, c.stc2 =
            args[i + 1], args[i + 2], args[i + 3], args[i + 4], args[i + 5],
            args[i + 6], args[i + 7], args[i + 8], args[i + 9]
    end,
    touches = function(args, i)
        local kind = COMMANDS.activity
        return ((num(args[i + 9]) or 0) > 0 or sts_of(args[i + 6])) and
                   kind.pa_timers or kind.pa
    end,
    apply = function(w, c, keys)
        append(w, 'ActivityScheduled', c.data)
        schedule_activity(w, keys[c.key], c)
    end,
}

COMMANDS.timer = command{
    fields = {'seq', 'data', 'fire_in_ms'}, touches = {'timers'},
    apply = function(w, c)
        append(w, 'TimerStarted', c.data)
        add_timer(w.k.timers, w.now + (tonumber(c.fire_in_ms) or 0),
                  timer_member('t', w.run, c.seq, 0, w.queue, '-', w.id))
    end,
}

COMMANDS.cancel_timer = command{
    fields = {'seq', 'data'}, touches = {'timers'},
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
    fields = {'seq', 'data', 'key'}, touches = {'pa', 'timers'},
    -- the activity's state read once before the commit's first write: a
    -- damaged record refuses the call whole (pa_state raises DURO_CORRUPT)
    check = function(k, seq)
        pa_state({k = k}, seq)
        return nil
    end,
    apply = function(w, c, keys)
        append(w, 'ActivityCancelRequested', c.data)
        abandon_activity(w, keys[c.key], c.seq)
    end,
}

-- outbox_check: a command that writes a record refuses (failing the task,
-- see check_commands) when the partition's outbox is not a hash, rather
-- than stop the commit halfway.
local function outbox_check(k)
    local key = outbox_of(k.wf)
    local got = CHECKED[key] or redis.call('TYPE', key)['ok']
    if got ~= 'none' and got ~= 'hash' then
        return key .. ' is a ' .. got .. ', expected hash'
    end
    CHECKED[key] = 'hash'
    return nil
end

-- child: start a child workflow (ChildWorkflowInitiated, an outbox record
-- for the child's partition; the child joins the run's `children`).
-- policy: the id reuse policy; close_policy: Terminate, RequestCancel or
-- Abandon.
-- nonempty: a hash field's value, nil when absent or ''.
local function nonempty(v)
    return v ~= '' and v or nil
end

COMMANDS.child = command{
    fields = {'seq', 'data', 'id', 'type', 'queue', 'input', 'policy',
              'close_policy', 'exec_timeout', 'wft_timeout'},
    touches = {'timers'}, check = outbox_check,
    apply = function(w, c)
        local run = child_run(w.run, c.seq)
        append(w, 'ChildWorkflowInitiated', c.data)
        redis.call('HSET', w.k.wf, 'child:' .. c.seq, cjson.encode(
            {id = c.id, run = run, policy = c.close_policy}))
        set(w, 'children', str((tonumber(w.children) or 0) + 1))
        set(w, 'child_max', c.seq)
        local exec = str(tonumber(c.exec_timeout) or 0)
        local started = '{"type":' .. json_str(c.type) .. ',"taskQueue":' ..
            json_str(c.queue) .. ',"input":' .. c.input .. ',"runId":"' ..
            run .. '","executionTimeoutMs":' .. exec ..
            ',"parentWorkflowId":' .. json_str(w.id) .. ',"parentRunId":"' ..
            w.run .. '"}'
        xfer_put(outbox_of(w.k.wf), w.k.timers, w.now, w.id, w.run, c.seq,
                 XFER.start,
                 {op = 'start', id = c.id, run = run, type = c.type,
                  queue = c.queue, input = c.input, started = started,
                  policy = c.policy, exec_timeout = exec,
                  wft_timeout = c.wft_timeout, retention = w.retention,
                  parent = w.id, parent_run = w.run, parent_queue = w.queue,
                  seq = c.seq, priority = nonempty(w.priority),
                  fkey = nonempty(w.fkey), fweight = nonempty(w.fweight)})
    end,
}

-- external: signal (op deliver, SignalReceived) or cancel another
-- workflow (run "" = its current run); the outcome comes back as
-- ok/fail_event.
local function external(etype, op, b, reply_b, ok_event, fail_event)
    return command{
        fields = {'seq', 'data', 'id', 'run', 'payload'},
        touches = {'timers'}, check = outbox_check,
        apply = function(w, c)
            append(w, etype, c.data)
            xfer_put(outbox_of(w.k.wf), w.k.timers, w.now, w.id, w.run, c.seq,
                     b, {op = op, id = c.id, run = c.run, data = c.payload,
                         event = 'SignalReceived', seq = c.seq,
                         reply_id = w.id, reply_run = w.run,
                         reply_b = tostring(reply_b), reply_ok = ok_event,
                         reply_fail = fail_event})
        end,
    }
end
COMMANDS.signal_ext = external('ExternalSignalInitiated', 'deliver',
                               XFER.signal, XFER.signal_reply,
                               'ExternalSignaled', 'ExternalSignalFailed')
COMMANDS.cancel_ext = external('ExternalCancelInitiated', 'cancel',
                               XFER.cancel, XFER.cancel_reply,
                               'ExternalCancelRequested',
                               'ExternalCancelFailed')

-- upsert_attrs: the attributes of an upsert's data
-- {"searchAttributes":{...}}, checked against the registry (nil and the
-- message when they do not fit).
local function upsert_attrs(k, data)
    local ok, d = pcall(cjson.decode, data)
    if not ok or type(d) ~= 'table' or type(d.searchAttributes) ~= 'table' then
        return nil, 'UpsertWorkflowSearchAttributes needs {"searchAttributes":{...}}'
    end
    return sa_prepare(slot_prefix_of(k.wf), d.searchAttributes)
end

-- upsert_sa: duro_upsert_search_attributes; its check runs (through
-- check_commands) before the commit writes anything.
COMMANDS.upsert_sa = command{
    fields = {'data'},
    check = function(k, data)
        local _, err = upsert_attrs(k, data)
        return err
    end,
    apply = function(w, c)
        append(w, 'UpsertWorkflowSearchAttributes', c.data)
        local prepared = upsert_attrs(w.k, c.data)
        sa_apply(slot_prefix_of(w.k.wf), w.run, vis_row_start(w), prepared)
    end,
}

-- closing commands: the event, then the run closes with `field` = value
local closing
do
    -- what touches answers: read only, shared by every call
    local TIMERS, NONE = {'timers'}, {}
    closing = function(etype, status, field, value_field)
        return command{
            fields = {'data', value_field}, closes = true,
            -- close removes the x timer (buf and pa it only deletes)
            touches = function(_, _, w)
                return (w.exec_timeout ~= '0' or
                           (w.run_timeout or '0') ~= '0') and TIMERS or NONE
            end,
            apply = function(w, c)
                append(w, etype, c.data)
                close(w, status, field, c[value_field])
            end,
        }
    end
end
COMMANDS.complete = closing('WorkflowCompleted', 'COMPLETED', 'result', 'result')
COMMANDS.fail = closing('WorkflowFailed', 'FAILED', 'failure', 'failure')
COMMANDS.cancel = closing('WorkflowCanceled', 'CANCELED', 'result', 'result')

-- ---- Continue-as-new -----------------------------------------------------

-- CARRIED: the buffered events a continued run hands to its successor
-- (arrived while its last task was in flight): signals and a cancel
-- request concern the workflow, not the run, so none is lost; timer and
-- activity outcomes of the closed run are dropped with it.
local CARRIED = {SR = true, CR = true}

-- carried_events takes the buffered events the new run inherits.
local function carried_events(w)
    local out = {}
    if w.bufn and tonumber(w.bufn) == 0 then return out end
    for _, item in ipairs(redis.call('LRANGE', w.k.buf, 0, -1)) do
        if CARRIED[string.sub(item, 1, 2)] and
            string.sub(item, 3, 3) == '\n' then
            out[#out + 1] = item
        end
    end
    return out
end

-- continued_started: WorkflowStarted's data of the new run (the client's
-- shape, docs/internals.md), with the run it continues.
local function continued_started(w, c, exec_timeout)
    return '{"type":' .. json_str(c.type) .. ',"taskQueue":' ..
               json_str(c.queue) .. ',"input":' .. c.input .. ',"runId":' ..
               json_str(c.run) .. ',"executionTimeoutMs":' .. exec_timeout ..
               ',"runTimeoutMs":' .. str(tonumber(c.run_timeout) or 0) ..
               ',"continuedExecutionRunId":' .. json_str(w.run) .. '}'
end

-- continue_as_new closes w's run as CONTINUED_AS_NEW and starts run c.run
-- of the same id in the same call: the history key c.key (KEYS index),
-- its first task in the shared stream c.key2 of queue c.queue. The new
-- run keeps the chain's execution timeout deadline, the memo and search
-- attributes, the retention, and inherits the buffered signals.
local function continue_as_new(w, c, keys)
    local carried = carried_events(w)
    local exec_timeout = tonumber(w.exec_timeout) or 0
    local deadline
    if exec_timeout > 0 then
        deadline = redis.call('ZSCORE', w.k.timers,
                              timer_member('x', w.run, 0, 0, w.queue, '-',
                                           w.id))
    end
    local vis = vis_carry(w.k.wf, w.run)
    local old = w.run
    -- 0: the new run keeps this run's (Temporal's default)
    local run_timeout = tonumber(c.run_timeout) or 0
    if run_timeout <= 0 then run_timeout = tonumber(w.run_timeout) or 0 end
    local wft_timeout = tonumber(c.wft_timeout) or 0
    if wft_timeout <= 0 then wft_timeout = tonumber(w.wft_timeout) or 10000 end
    c.run_timeout = str(run_timeout)
    append(w, 'WorkflowContinuedAsNew', c.data)
    close(w, 'CONTINUED_AS_NEW', 'result', 'null')
    -- written now: the new run's context rewrites the same hash fields
    flush(w)
    local k2 = {wf = w.k.wf, hist = keys[c.key], buf = w.k.buf,
                wft = keys[c.key2], timers = w.k.timers, pa = w.k.pa}
    local args = {w.id, c.run, c.type, c.queue, c.input,
                  continued_started(w, c, str(exec_timeout)),
                  str(exec_timeout), str(wft_timeout)}
    args.prev = {w.token, w.retention, w.priority, w.fkey, w.fweight}
    args.retention = w.retention
    args.run_timeout = c.run_timeout
    -- the chain keeps its priority and fairness key (as a child inherits)
    local function given(v) return v and v ~= '' and v or nil end
    args.priority, args.fkey = given(w.priority), given(w.fkey)
    args.fweight = args.fkey and given(w.fweight) or nil
    args.exec_deadline = deadline
    local parent = w.parent ~= '' and w.parent or nil
    start_run(k2, args, nil, nil, vis, function(w2)
        append(w2, 'WorkflowStarted', args[6])
        set(w2, 'continued_from', old)
        if parent then set(w2, 'parent', parent) end
        for _, item in ipairs(carried) do
            push_event(w2, item)
            if string.sub(item, 1, 2) == 'CR' then
                set(w2, 'cancel_requested', '1')
            end
        end
    end)
end

-- continue_as_new: data (the WorkflowContinuedAsNew event's), the new
-- run id, the KEYS indexes of its history and of its queue's shared
-- workflow-task stream, its type, queue, input (JSON text), run timeout
-- and workflow task timeout (ms; 0: the closing run's).
COMMANDS.continue_as_new = command{
    fields = {'data', 'run', 'key', 'key2', 'type', 'queue', 'input',
              'run_timeout', 'wft_timeout'},
    closes = true, touches = {'timers', 'buf'},
    -- key: the new run's history, a list that start_run DELs before it
    -- writes it, whatever its type: not probed (command_keys)
    unprobed = true,
    check = function(k, _, args, i)
        local run, wtype, queue = args[i + 2], args[i + 5], args[i + 6]
        if not string.match(run or '', '^[%w%-]+$') or
            k.hist == string.match(k.hist or '', '^(.*:)') .. run then
            return 'continue_as_new needs a new run id'
        end
        if (wtype or '') == '' or (queue or '') == '' or
            string.find(queue, '#', 1, true) then
            return 'continue_as_new needs a type and a task queue'
        end
        return nil
    end,
    apply = function(w, c, keys) continue_as_new(w, c, keys) end,
}


-- update_done: an update's handler returned (the task that applied its
-- UpdateAccepted): UpdateCompleted(data), the outcome recorded in place
-- of the waiters, each of which gets it in its reply list
-- (answer_waiters: only reply keys of the partition).
COMMANDS.update_done = command{
    fields = {'uid', 'data', 'outcome'},
    apply = function(w, c)
        append(w, 'UpdateCompleted', c.data)
        local field = update_field(w.run, c.uid)
        local rec = w.dirty[field] or redis.call('HGET', w.k.wf, field)
        if rec and string.sub(rec, 1, 2) == 'P ' then
            answer_waiters(w, rec, c.outcome)
            set(w, 'upend', str(math.max(0, (tonumber(w.upend) or 0) - 1)))
        end
        set(w, field, c.outcome)
    end,
}

-- check_commands validates a command list before anything is written;
-- activity keys must be among KEYS[minkey..nkeys]. Returns an error text
-- or nil, whether a command closes the run, the index of the arguments
-- after the list (a sticky worker's, duro_wft_complete), and, when a
-- kind's own check (k: the call's keys) refuses a command, its message:
-- that fails the task rather than the call (see fail_task).
local check_commands
do
    -- key_in_range: v is a KEYS index in minkey..nkeys.
    local function key_in_range(v, minkey, nkeys)
        local ki = num(v)
        return ki and ki >= minkey and ki <= nkeys
    end

    check_commands = function(args, first, ncmd, minkey, nkeys, k)
        local i, closes = first, false
        for _ = 1, ncmd do
            local kind = COMMANDS[args[i]]
            if not kind then return 'unknown command ' .. tostring(args[i]) end
            closes = closes or kind.closes == true
            if kind.check and i + kind.arity <= #args then
                local err = kind.check(k, args[i + 1], args, i)
                if err then return nil, closes, nil, err end
            end
            if kind.key_at and not key_in_range(args[i + kind.key_at], minkey,
                                                nkeys) or
                kind.key2_at and not key_in_range(args[i + kind.key2_at], minkey,
                                                  nkeys) then
                return 'activity key index out of range'
            end
            i = i + 1 + kind.arity
            if i - 1 > #args then return 'truncated command list' end
        end
        return nil, closes, i
    end
end

-- WF_FIELDS.hot_of: how many of WF_FIELDS a commit's call (its command
-- list at args[first], ncmd commands) has load_wf read at once: all when
-- a command closes the run (a close reads the others: the run's
-- timeouts, start_ms) or there is no list (an activity's completion
-- without an eager task: it queues a task, reading its token), else hot.
-- Only a choice of what to read first: a list it cannot walk is left to
-- check_commands, and a wrong choice costs one more HMGET, never a wrong
-- value (WF_FIELDS.meta).
WF_FIELDS.hot_of = function(args, first, ncmd, hot)
    if not ncmd then return #WF_FIELDS end
    local i = first
    for _ = 1, ncmd do
        local kind = COMMANDS[args[i]]
        if not kind then return hot end
        if kind.closes then return #WF_FIELDS end
        i = i + 1 + kind.arity
    end
    return hot
end

-- LEASE.plan: whether the activity command at args[i] (its fields after
-- it) is leased, decided once, in the call's check phase (command_keys,
-- after LEASE.ask), for LEASE.take to follow, so that the two cannot
-- disagree: the commit asked for leases and has room left, named the
-- command's KEYS index among those a lease may come from, the activity
-- has no fairness key (its task goes out by key, through its stream)
-- and has a deadline to time the lease out by (start-to-close or
-- heartbeat). A leased activity writes no stream (its l timer goes to
-- timers instead), so the check phase probes no stream for it. Records
-- the command's position and the lease's due in w.lease (at, due, np).
do
    local A = COMMANDS.activity
    local KEY, OPTS, STC, HBT = A.key_at, 6, 7, 8
    if A.fields[OPTS] ~= 'opts' or A.fields[STC] ~= 'stc' or
        A.fields[HBT] ~= 'hbt' then
        error('LEASE.plan reads opts, stc and hbt at 6, 7 and 8')
    end
    LEASE.plan = function(w, args, i)
        local l = w.lease
        if not l or l.n < 1 then return false end
        -- named: by the index's text, as eager_take's listed (a worker
        -- writes both alike; another spelling goes to the stream)
        local key, named = args[i + KEY], false
        for j = l.from, #args do
            if args[j] == key then
                named = true
                break
            end
        end
        if not named then return false end
        local due = LEASE.due(w.now, num(args[i + STC]) or 0,
                              num(args[i + HBT]) or 0, 0)
        if not due then return false end
        local fkey = act_fairness(w, args[i + OPTS])
        if fkey and fkey ~= '' then return false end
        l.n = l.n - 1
        local m = l.np + 1
        l.at[m], l.due[m], l.np = i, due, m
        return true
    end
end

-- command_keys adds to need what the commands write past the call's first
-- write and no read checks before: the keys of the call (names of k, set
-- to true) each kind's `touches` names (a list, or a function of its args
-- and w), and, in need's list part, the KEYS a command names by index
-- (an activity's stream, but for one LEASE.plan leases; continue_as_new's
-- queue stream key2, not its `key`, a kind marked unprobed), which
-- check_needed probes as streams. KEYS no command names are
-- not written (eager_take reads only the streams the commands queued
-- into), so they need no probe.
-- An activity that goes to a stream with a priority (its own or the
-- run's) or a fairness key writes more than its queue's stream s: the
-- level's stream, and with a key, that key's stream beside it and the
-- fair keys fair_added writes. written adds them to need (TASK.written)
-- for check_needed: a key of another type would fail the XADD, SADD, ...
-- after the call's first write. So does a continue-as-new for its new
-- run's first workflow task (on its queue's stream, key2), which keeps
-- the run's priority and fairness key. (A field: the main chunk is at
-- Lua's limit of 200 locals.)
COMMANDS.activity.written = function(w, args, i, s, need)
    local opts = args[i + 6]
    local prio, fkey = act_priority(w, opts), act_fairness(w, opts)
    -- (most have neither: no call)
    if prio or fkey then TASK.written(s, prio, fkey, need) end
end

local function command_keys(w, args, keys, first, ncmd, need)
    local i, act = first, COMMANDS.activity
    for _ = 1, ncmd do
        local kind = COMMANDS[args[i]]
        local t = kind.touches
        if t then
            if type(t) == 'function' then t = t(args, i, w) end
            for j = 1, #t do need[t[j]] = true end
        end
        local at = not kind.unprobed and kind.key_at
        if at and not (kind == act and LEASE.plan(w, args, i)) then
            local s = keys[num(args[i + at])]
            need[#need + 1] = s
            if kind == act then act.written(w, args, i, s, need) end
        end
        at = kind.key2_at
        if at then
            -- (a continue-as-new's new run's stream, the one kind with
            -- a key2)
            local s = keys[num(args[i + at])]
            need[#need + 1] = s
            if w.priority or w.fkey then
                TASK.written(s, w.priority, w.fkey, need)
            end
        end
        i = i + 1 + kind.arity
    end
    return need
end

-- check_needed probes (probe) the keys in need (command_keys): a call's
-- keys that it writes after its first write, found before that write:
-- the names of k set to true, as their KEY_TYPE, and the KEYS in its list
-- part as streams, but for `skip` (a stream the call's first write
-- checks). As check_types does, one probe per key not yet found to be of
-- its type (CHECKED).
local function check_needed(k, need, skip)
    for name, v in pairs(need) do
        if v == true then
            local key = k[name]
            if not key then
                return fail('DURO_BADARG', 'needs the ' .. name .. ' key')
            end
            local bad = probe(key, KEY_TYPE[name])
            if bad then return bad end
        end
    end
    -- the streams, and a task's level and fair keys (TASK.written)
    return TASK.probe(need, skip)
end

-- apply_commands writes each command's event and effect (checked before
-- any write by check_commands), up to the one that closes the run. Each
-- command is read into c by its field names (one table for the call: an
-- apply reads only its own kind's fields).
local apply_commands
do
    -- CMD: the table each command is read into, kept from call to call
    -- (each kind assigns all its fields before its apply reads them), so
    -- that it does not grow, rehashing, in every call.
    local CMD = {}
    apply_commands = function(w, keys, args, first, ncmd)
        local i, c = first, CMD
        for _ = 1, ncmd do
            local kind = COMMANDS[args[i]]
            local fields, load = kind.fields, kind.load
            if load then
                load(c, args, i)
            else
                for j = 1, kind.arity do c[fields[j]] = args[i + j] end
            end
            -- c.at: where the command sits (LEASE.take finds its plan
            -- by it)
            if kind.key_at then c.key, c.at = num(c.key), i end
            if kind.key2_at then c.key2 = num(c.key2) end
            kind.apply(w, c, keys)
            i = i + 1 + kind.arity
            if w.status ~= 'RUNNING' then break end
        end
    end
end

-- commit_task appends a workflow task's WorkflowTaskCompleted and command
-- events and applies the commands; returns the id of its last event.
local function commit_task(w, keys, args, first, ncmd, wtc)
    append(w, 'WorkflowTaskCompleted', wtc)
    apply_commands(w, keys, args, first, ncmd)
    return w.hlen
end

-- fail_task re-issues a failed workflow task (the caller acked its entry
-- and checked its token): buffered events go in, a new token, the task
-- again at once or after a backoff (< 0: by attempt), the message kept
-- for describe.
local function fail_task(w, k, run, msg, backoff)
    drain_buffer(w)
    -- the failing worker dropped the run: the retry goes to any worker
    task_taken(w)
    set_sticky(w, '')
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
end

-- ---- Eager activity dispatch (docs/internals.md, "Eager activity dispatch")
--
-- A commit (duro_wft_complete, duro_act_complete's eager tail) may take,
-- for the committing worker, the activity tasks it just queued: the worker
-- names itself and its free slots after the sticky pair, and the KEYS
-- indexes of the activity streams of the queue it polls:
--   ... [sticky_worker sticky_ms [eager_consumer eager_n key_index...]]
-- After the commands are applied, one XREADGROUP ... COUNT n per stream
-- the commit queued into (of those named, at the activity's priority
-- level; not a fair stream, whose tasks go out by key) reads for that
-- consumer, exactly as the worker's own read would: the entries are then
-- pending under its name, so every path of a read entry (ack, heartbeat,
-- release, reclaim of a dead worker's entries) applies. An older entry of
-- the backlog may come instead of the new one, whole: the worker serves
-- that queue. The entries follow the reply's other elements, flat
-- (eager_take says how; an older worker's are its last element, shaped as
-- an XREADGROUP reply).

-- eager_take (below) is what the two commit Functions call.
local eager_take
do -- the section's helpers end with it (Lua: 200 locals per chunk)
    -- ACTIVITY_OPTS_AT: an activity command's options, past its kind
    local ACTIVITY_OPTS_AT = 6

    -- listed: whether v is among args[from..] (the eligible KEYS indexes:
    -- one or a few, scanned rather than made a set per call).
    local function listed(args, from, v)
        for j = from, #args do
            if args[j] == v then return true end
        end
        return false
    end

    -- eager_streams: the streams (in order, once each) that the activity
    -- commands in args[first..] queued into, of the KEYS indexes eligible
    -- (args[from..]); nil when none.
    local function eager_streams(w, keys, args, first, ncmd, from)
        local out, i = nil, first
        for _ = 1, ncmd do
            local kind = COMMANDS[args[i]]
            if kind == COMMANDS.activity and
                listed(args, from, args[i + kind.key_at]) then
                local opts = args[i + ACTIVITY_OPTS_AT]
                local fkey = act_fairness(w, opts)
                if not fkey or fkey == '' then
                    local s = prio_stream(keys[num(args[i + kind.key_at])],
                                          act_priority(w, opts))
                    out = out or {}
                    if not listed(out, 1, s) then out[#out + 1] = s end
                end
            end
            i = i + 1 + kind.arity
        end
        return out
    end

    -- eager_take reads, for consumer args[at] with room for |args[at + 1]|
    -- tasks, the tasks of the eligible streams (args[at + 2..]) that this
    -- commit queued into, and appends them to the reply out; nothing when
    -- the call asked for none (an older worker, or no room). Only while
    -- the run is still the one committed: a closed run's tasks are dropped
    -- by whoever reads them. A negative count (a worker of library 34 on)
    -- takes them flat, out's elements continuing with, per stream,
    -- `stream, count`, then per entry `id, {field, value...}` (XREADGROUP's
    -- own table of the entry's fields): each nested table costs Redis
    -- ~2.4k instructions to convert back, and a copy of an entry's fields
    -- into out would cost the Lua ~7k (docs/benchmarks.md). A positive
    -- count (an older worker) gets one more element, the entries shaped
    -- as an XREADGROUP reply ({{stream, {{id, {field, value...}}...}}...},
    -- possibly empty).
    -- lease_reply appends w's leases (LEASE.take), flat as eager_take's
    -- entries, a run of leases of one stream under one `stream, count`:
    -- the fields a stream entry of the attempt would hold, so the worker
    -- reads them as it reads entries.
    local function lease_reply(w, out)
        local got, m, at = w.lease.got, #out, nil
        for j = 1, w.lease.ngot, 6 do
            if at and out[at - 1] == got[j] then
                out[at] = out[at] + 1
            else
                out[m + 1], out[m + 2] = got[j], 1
                m = m + 2
                at = m
            end
            out[m + 1], out[m + 2] = got[j + 1], {
                'id', w.id, 'run', w.run, 'seq', got[j + 2], 'attempt', '1',
                'name', got[j + 3], 'input', got[j + 4], 'opts', got[j + 5],
                'wfqueue', w.queue}
            m = m + 2
            -- the payload, let go (ASKED outlives the call)
            got[j + 4] = false
        end
    end

    eager_take = function(w, run, keys, args, first, ncmd, at, out)
        -- leases (LEASE.ask): made by the commands, handed out while the
        -- run is open (a commit that closes it asks for none)
        if w.lease then
            if w.status == 'RUNNING' and w.run == run then
                lease_reply(w, out)
            end
            -- the call's arguments let go (LEASE.ask's table outlives it)
            w.lease.args = false
            return
        end
        local consumer, n = args[at], num(args[at + 1] or '')
        local flat = n and n < 0
        if flat then n = -n end
        if not consumer or consumer == '' or not n or n < 1 then return end
        local m = #out
        if not flat then
            m = m + 1
            out[m] = {}
        end
        if w.status ~= 'RUNNING' or w.run ~= run then return end
        local streams = eager_streams(w, keys, args, first, ncmd, at + 2)
        for j = 1, streams and #streams or 0 do
            if n < 1 then break end
            -- pcall: a level stream without the group yet (NOGROUP) has
            -- none. COUNT as text (str: kept for small integers), where a
            -- number argument costs redis.call a '%.17g' sprintf.
            local r = redis.pcall('XREADGROUP', 'GROUP', GROUP, consumer,
                                  'COUNT', n % 1 == 0 and str(n) or n,
                                  'STREAMS', streams[j], '>')
            local sr = type(r) == 'table' and not r.err and r[1]
            if sr then
                local entries = sr[2]
                local ne = #entries
                n = n - ne
                if flat then
                    out[m + 1], out[m + 2] = sr[1], ne
                    m = m + 2
                    for e = 1, ne do
                        out[m + 1], out[m + 2] = entries[e][1], entries[e][2]
                        m = m + 2
                    end
                else
                    local got = out[m]
                    got[#got + 1] = sr
                end
            end
        end
    end
end

-- duro_wft_complete 8+A wf hist buf wft timers pa idx_open idx_closed
--                   act_1..act_A  run token entry wtc_data ncmd cmd...
--                   [sticky_worker sticky_ms]
-- The commands' activity streams are KEYS[9..8+A] (WFT_COMPLETE_KEYS + 1).
-- wft is the stream the task was read from (shared or sticky). A worker
-- that keeps the run names itself after the commands: the run's next
-- tasks go to its sticky stream, waiting sticky_ms for it.
local WFT_COMPLETE_KEYS = 8
local function duro_wft_complete(k, args, keys)
    local run, token, entry, wtc = args[1], args[2], args[3], args[4]
    local ncmd = num(args[5])
    if not (run and token and entry and wtc and ncmd) then
        return fail('DURO_BADARG', 'duro_wft_complete needs 5 arguments')
    end
    local w = load_wf(k, nil, WF_FIELDS.hot_of(args, 6, ncmd,
                                               WF_FIELDS.hot.wft))
    if not current(w, run) or w.token ~= token or w.wft ~= '1' then
        ack_first(k.wft, entry)
        return fail('DURO_STALE', 'workflow task token no longer current')
    end
    local bad, closes, tail, task_err = check_commands(
        args, 6, ncmd, WFT_COMPLETE_KEYS + 1, #keys, k)
    if bad then return fail('DURO_BADARG', bad) end
    if task_err then
        -- a command the task may not give (a bad search attribute): the
        -- task fails and is retried, as a failing workflow task is
        local wrong = check_needed(k, {buf = true, timers = true})
        if wrong then return wrong end
        ack_first(k.wft, entry)
        fail_task(w, k, run, task_err, -1)
        return fail('DURO_BADARG', task_err)
    end
    -- the keys written after the first write (the ack, which checks wft):
    -- what the commands touch, the buffer when it holds events (and wft,
    -- for the task they make, when there was no entry to ack; that task's
    -- level and fair keys, TASK.written)
    -- a commit that closes the run leases nothing (see LEASE.ask); asked
    -- first, as command_keys plans the leases (LEASE.plan)
    if not closes then LEASE.ask(w, args, tail + 2) end
    local need = command_keys(w, args, keys, 6, ncmd, {})
    if w.bufn ~= '0' then
        need.buf = true
        if entry == '' then need.wft = true end
        if w.priority or w.fkey then
            TASK.written(k.wft, w.priority, w.fkey, need)
        end
    end
    if w.lease then need.timers = true end
    local wrong = (closes and check_close(k, w)) or check_needed(k, need)
    if wrong then return wrong end
    ack_first(k.wft, entry)
    task_taken(w)
    local last = commit_task(w, keys, args, 6, ncmd, wtc)
    if w.status == 'RUNNING' then
        set(w, 'wft', '0')
        set(w, 'wft_entry', '')
        set(w, 'wft_error', '')
        set_sticky(w, args[tail], args[tail + 1])
        if drain_buffer(w) > 0 then schedule_wft(w) end
    end
    local reply = {last, w.hlen}
    eager_take(w, run, keys, args, 6, ncmd, tail + 2, reply)
    return reply
end

-- duro_wft_fail 5 wf hist buf wft timers  run token entry message backoff_ms
local function duro_wft_fail(k, args)
    local run, token, entry, msg = args[1], args[2], args[3], args[4]
    local backoff = tonumber(args[5]) or 0
    local w = load_wf(k)
    local live = current(w, run) and w.token == token and w.wft == '1'
    -- a task again at once (fail_task): its keys before the ack
    if live and backoff == 0 then
        local wrong = TASK.wft_check(w)
        if wrong then return wrong end
    end
    ack(k.wft, entry)
    if not live then
        return fail('DURO_STALE', 'workflow task token no longer current')
    end
    fail_task(w, k, run, msg, backoff)
    return 'ok'
end


-- duro_act_complete 9+A wf hist buf wft timers pa idx_open idx_closed act
--     act_1..act_A  run seq attempt entry outcome data retry_delay_ms
--     failure [expected_hlen wtc_data ncmd cmd... [sticky_worker sticky_ms]]
-- With the optional tail (an eager workflow task), a worker that holds the
-- run and applied this completion itself commits the resulting workflow
-- task in the same call: accepted only when no workflow task is outstanding
-- and the history is exactly expected_hlen events long, so nothing happened
-- that the worker did not see. Returns {"eager", last_event, hlen}; when
-- not accepted the completion is delivered as usual ("resolved"). An
-- accepted one makes sticky_worker the run's sticky worker, as a commit
-- does (duro_wft_complete).
-- The commands' activity streams are KEYS[10..9+A] (ACT_COMPLETE_KEYS + 1).
local ACT_COMPLETE_KEYS = 9

local function duro_act_complete(k, args, keys)
    local act = k.act
    local run, seq, attempt, entry, outcome, data = args[1], args[2],
        num(args[3]), args[4], args[5], args[6]
    local delay = num(args[7]) or -1
    local failure = args[8] or ''
    if not (run and seq and attempt and entry and data) or
        (outcome ~= 'completed' and outcome ~= 'failed') then
        return fail('DURO_BADARG', 'duro_act_complete arguments')
    end
    local w = load_wf(k, nil, WF_FIELDS.hot_of(
                          args, 12, outcome == 'completed' and num(args[11]),
                          WF_FIELDS.hot.act))
    -- a completion only resolves the activity: its lean state
    local st = w and current(w, run) and
                   pa_state(w, seq, outcome == 'completed')
    if st and num(st.attempt) ~= attempt then st = nil end
    -- an eager commit that closes the run writes the indexes: checked
    -- before the ack, the call's first write
    local eager, tail = false, nil
    local need = {}
    -- ncmd: the eager tail's command count (parsed once)
    local ncmd = st and outcome == 'completed' and num(args[11])
    if ncmd then
        local expected = num(args[9])
        if expected and w.wft == '0' and w.hlen == expected then
            local bad, closes, task_err
            bad, closes, tail, task_err = check_commands(
                args, 12, ncmd, ACT_COMPLETE_KEYS + 1, #keys, k)
            local wrong = not bad and closes and check_close(k, w)
            if wrong then return wrong end
            eager = not bad and not task_err
            if eager then
                if not closes then LEASE.ask(w, args, tail + 2) end
                command_keys(w, args, keys, 12, ncmd, need)
                if w.lease then need.timers = true end
            end
        end
    end
    -- a leased attempt (LEASE): its l timer goes instead of an ack
    local leased = LEASE.is(entry)
    -- the keys written after the first write (the ack, which checks act;
    -- pa was read by pa_state): the s timer, and the buffer or the task
    -- stream that delivering the outcome writes; a failure may retry
    -- (timers, act) or resolve
    if st then
        if leased or st.deadline and st.deadline ~= '0' then
            need.timers = true
        end
        if outcome == 'failed' then
            -- act: checked by the ack when there is an entry to ack
            need.timers, need.buf, need.wft = true, true, true
            if entry == '' or leased then need.act = true end
            -- retried at once: its fair keys (TASK.act_written)
            if delay == 0 then TASK.act_written(act, need) end
        elseif not eager then
            if w.wft == '1' then need.buf = true else need.wft = true end
        end
        -- a task for the outcome delivered (none is outstanding; a
        -- failure retried delivers none): its level and fair keys
        -- (TASK.written)
        if not eager and w.wft ~= '1' and (w.priority or w.fkey) and
            not (outcome == 'failed' and TASK.retries(w, st, delay)) then
            TASK.written(k.wft, w.priority, w.fkey, need)
        end
    end
    -- and the streams the commands write (command_keys: none for an
    -- activity leased, none without an eager commit), but for the one it
    -- acks from (act, with an entry): ack_first checks that one, as the
    -- call's first write (most often the next activity goes to the same
    -- queue, so this saves a probe per call); a lease's l timer goes
    -- instead, the first write that checks timers (LEASE.drop_first: w is
    -- loaded when st is, and need is empty without st)
    if leased and w then need.timers = nil end
    local wrong = check_needed(k, need, entry ~= '' and not leased and act)
    if wrong then return wrong end
    -- a failure retried at once queues the attempt: its schedule record,
    -- read (and checked) before the first write
    local sc = st and outcome == 'failed' and delay == 0 and pa_sched(w, seq)
    if not LEASE.drop_first(w, run, seq, attempt, entry, queue_of(act)) then
        ack_first(act, entry)
    end
    if not st then
        return fail('DURO_STALE', 'activity attempt no longer current')
    end
    if outcome == 'completed' then
        if eager then
            resolve_activity(w, seq, 'ActivityCompleted', data, st, true)
            local last = commit_task(w, keys, args, 12, ncmd, args[10])
            if w.status == 'RUNNING' then
                set_sticky(w, args[tail], args[tail + 1])
            end
            local reply = {'eager', last, w.hlen}
            eager_take(w, run, keys, args, 12, ncmd, tail + 2, reply)
            return reply
        end
        resolve_activity(w, seq, 'ActivityCompleted', data, st)
        return 'resolved'
    end
    return retry_or_resolve(w, act, seq, attempt, delay, failure,
                            'ActivityFailed', data, st, sc)
end

-- duro_act_release 9 wf hist buf wft timers pa idx_open idx_closed act
--                  run seq attempt entry [delay_ms]
-- (idx_open and idx_closed unused)
-- A stopping worker hands back an attempt it will not finish: the same
-- attempt goes back to the queue at once instead of after its timeout.
-- Whichever run of it completes first wins; the other is fenced off.
-- delay_ms > 0: the attempt comes back after that long, through an 'r'
-- timer (a worker that may not start it yet: its concurrency key is full).
local function duro_act_release(k, args)
    local act = k.act
    local run, seq, attempt, entry = args[1], args[2], tonumber(args[3]),
                                     args[4]
    local delay = tonumber(args[5]) or 0
    local w = load_wf(k, nil, WF_FIELDS.hot.act)
    local st = w and current(w, run) and pa_state(w, seq)
    if not st or tonumber(st.attempt) ~= attempt or st.entry ~= entry then
        ack(act, entry)
        LEASE.drop(w, run, seq, attempt, entry, queue_of(act))
        return 'orphan'
    end
    -- a lease: when it started (its schedule-to-start counts from then,
    -- arm_sts), and the options that say it, read before the first write
    local from = LEASE.is(entry) and LEASE.started(entry)
    local sc = (delay <= 0 or from) and pa_sched(w, seq)
    -- queued again at once: its fair keys (TASK.act_written)
    local wrong = delay <= 0 and TASK.probe(TASK.act_written(act, {}))
    if wrong then return wrong end
    if from then -- the same attempt, no longer held: its timer goes
        redis.call('ZREM', k.timers,
                   LEASE.member(w, seq, str(attempt), queue_of(act)))
    end
    ack(act, entry)
    if delay > 0 then
        st.entry = ''
        pa_put(w, seq, st)
        add_timer(k.timers, w.now + delay,
                  timer_member('r', run, seq, attempt, w.queue, queue_of(act),
                               w.id))
        -- the q timer a stream entry put back keeps (its r timer's
        -- enqueue then finds it)
        if from then arm_sts(w, act, seq, attempt, sc.opts, from) end
        return 'deferred'
    end
    enqueue_activity(w, act, seq, attempt, st, sc, from or nil)
    return 'released'
end

-- duro_act_heartbeat 6 wf hist buf wft timers pa  run seq attempt details
-- (hist, buf, wft and timers unused)
local function duro_act_heartbeat(k, args)
    local run, seq, attempt, details = args[1], args[2], tonumber(args[3]),
                                       args[4]
    local w = load_wf(k, nil, WF_FIELDS.hot.act)
    local st = current(w, run) and pa_state(w, seq)
    if not st or tonumber(st.attempt) ~= attempt then
        return fail('DURO_STALE', 'activity attempt no longer current')
    end
    st.hb = str(w.now)
    if details and details ~= '' then st.details = details end
    pa_put(w, seq, st)
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
    local w = load_wf(k, nil, WF_FIELDS.hot.wft)
    local st = w and current(w, run) and seq and pa_state(w, seq)
    if not st or tonumber(st.attempt) ~= attempt or st.entry ~= entry then
        ack(act, entry)
        return 'orphan'
    end
    local sc = pa_sched(w, seq)
    local stc, hbt, hb = tonumber(sc.stc) or 0, tonumber(sc.hbt) or 0,
                         tonumber(st.hb) or 0
    local started = w.now - idle
    local kind
    if stc > 0 and idle >= stc then
        kind = 'START_TO_CLOSE'
    elseif hbt > 0 and w.now - math.max(started, hb) >= hbt then
        kind = 'HEARTBEAT'
    else
        return 'alive'
    end
    -- resolved, the timeout is delivered (TASK.wft_check); retried at
    -- once, the attempt's fair keys (TASK.act_written); retried later,
    -- neither (an 'r' timer)
    local wrong
    if not TASK.retries(w, st, delay) then
        wrong = TASK.wft_check(w, true)
    elseif delay == 0 then
        wrong = TASK.probe(TASK.act_written(act, {}))
    end
    if wrong then return wrong end
    ack(act, entry)
    retry_or_resolve(w, act, seq, attempt, delay, timeout_failure(kind),
                     'ActivityTimedOut', timed_out_data(seq, attempt, kind), st,
                     sc)
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
local function duro_wft_timeout(k, args)
    local run, token, entry = args[1], args[2], args[3]
    local idle = tonumber(args[4]) or 0
    local w = load_wf(k)
    if not current(w, run) or w.token ~= token or w.wft_entry ~= entry then
        ack(k.wft, entry)
        return 'orphan'
    end
    if idle < (tonumber(w.wft_timeout) or 10000) then return 'alive' end
    local prev = redis.call('HGET', k.wf, 'wft_timeouts') or ''
    local n, at = string.match(prev, '^(%d+):(%d+)$')
    local count = (at == token) and tonumber(n) + 1 or 1
    -- the task again at once the first time: its keys before the ack
    -- (later, a 'w' timer's fire probes them)
    if count == 1 then
        local wrong = TASK.wft_check(w)
        if wrong then return wrong end
    end
    ack(k.wft, entry)
    set_sticky(w, '') -- its worker may be gone: the next tasks go to any
    local newtoken = next_token(w)
    set(w, 'wft_timeouts', str(count) .. ':' .. newtoken)
    set(w, 'wft_attempt', str((tonumber(w.wft_attempt) or 1) + 1))
    if count == 1 then
        set(w, 'wft_error', 'workflow task timed out; the worker running ' ..
            'it may have crashed')
        enqueue_wft(w, newtoken)
        return 'timedout'
    end
    local backoff = math.min(1000 * 2 ^ (count - 2), 600000)
    set(w, 'wft_error', 'workflow task timed out ' .. str(count) ..
        ' times in a row; the worker running it may have crashed; retry in ' ..
        str(backoff / 1000) .. 's')
    set(w, 'wft_entry', '')
    add_timer(k.timers, w.now + backoff,
              timer_member('w', run, newtoken, 0, w.queue, '-', w.id))
    return 'timedout'
end

-- TASK.plan: what the fire of timer m (parse_member) of run w does,
-- decided once from what the fire reads, before its first write: st, the
-- activity's record, and delay, the retry delay (r, s, q and l timers);
-- the sticky stream's and the activity stream's pending lists (k and q
-- timers: reads). duro_timer_fire acts on the plan, and its probe reads
-- it, so the keys probed are the keys the fire writes:
-- a damaged key it would not write must not refuse it (keeping its timer
-- firing forever), one it writes must (no half write). A table:
--   action   'ignore' (the timer goes, 'ignored'), 'fire_timer' (t),
--            'enqueue_wft' (w: the task after its backoff),
--            'move_off_sticky' (k: unstick), 'recheck_sticky' (k: the
--            task taken and running, the timer back at due),
--            'enqueue_attempt' (r), 'close_activity' (s: schedule-to-
--            close), 'time_out' (q, l: the attempt times out, `timeout`
--            its kind, retried after delay or resolved), 'extend_lease'
--            (l: heartbeats came, the timer back at due, nil: none),
--            'time_out_run' (x, n: `timeout` its kind)
--   delivers the workflow task the fire queues, TASK.wft_check's
--            `delivering`: true (an event delivered), false (a task
--            queued), nil (none)
--   again    an attempt is queued again at once (TASK.act_written)
--   sc       the schedule record (pa_sched), read when the fire may
--            queue an attempt
--   due      the timer's next due time (recheck_sticky, extend_lease)
--   timeout  the timeout's kind (time_out, time_out_run)
--   act      the fire acks an entry of the activity stream (s); it is
--            probed then, and when an attempt is queued again at once
--            (again), not otherwise: a stale timer or a lease extended
--            writes nothing there
--   bad      the fire refused (the activity stream, of another type,
--            is read: q), the reply
TASK.plan = function(w, act, m, st, delay)
    local kind = m.kind
    if kind == 't' then return {action = 'fire_timer', delivers = true} end
    if kind == 'x' or kind == 'n' then
        return {action = 'time_out_run',
                timeout = kind == 'x' and 'EXECUTION' or 'RUN'}
    end
    local ignore = {action = 'ignore'}
    if kind == 'w' then
        if w.token ~= m.a or w.wft_entry ~= '' then return ignore end
        return {action = 'enqueue_wft', delivers = false}
    end
    if kind == 'k' then
        -- the task still waits in its sticky stream. Not taken (never
        -- delivered, or no such stream or group any more: the worker is
        -- gone) it moves to the shared stream; taken and running for less
        -- than the workflow task timeout, the timer comes back when that
        -- would be over; running longer, it moves too (the worker most
        -- likely died with it; if not, its commit is fenced off by the
        -- token)
        if w.token ~= m.a or w.wft ~= '1' or (w.wft_sticky or '') == '' or
            w.wft_entry == '' then
            return ignore
        end
        local p = redis.pcall('XPENDING', sticky_wft(w.k, w.wft_sticky), GROUP,
                              w.wft_entry, w.wft_entry, 1)
        local idle = type(p) == 'table' and p[1] and tonumber(p[1][3])
        local limit = tonumber(w.wft_timeout) or 10000
        if idle and idle < limit then
            return {action = 'recheck_sticky', due = w.now + limit - idle}
        end
        return {action = 'move_off_sticky', delivers = false}
    end
    if kind == 's' then
        if not st.attempt then return ignore end
        return {action = 'close_activity', delivers = true,
                act = st.entry ~= '' and not LEASE.is(st.entry)}
    end
    -- st: nil for a kind that names no activity (one this library does
    -- not know)
    if not st or st.attempt ~= m.b then return ignore end
    if kind == 'r' then
        if st.entry ~= '' then return ignore end
        return {action = 'enqueue_attempt', again = true, sc = pa_sched(w, m.a)}
    end
    local plan
    if kind == 'q' then
        -- schedule-to-start: an attempt still in its queue, delivered to
        -- no worker (not in the group's pending list), or waiting for its
        -- 'r' timer (entry '', put back by a worker because its
        -- concurrency key was full); taken by a worker, finished or moved
        -- on, nothing happens (no call disarms the timer when a worker
        -- takes the task, so the start path costs nothing)
        if not st.entry or LEASE.is(st.entry) then return ignore end
        if st.entry ~= '' then
            -- the stream read (and acked if the attempt times out): of
            -- another type, the fire is refused before the read
            local bad = probe(act, 'stream')
            if bad then return {bad = bad} end
            -- NOGROUP: no worker ever read the stream
            local p = redis.pcall('XPENDING', act, GROUP, st.entry, st.entry, 1)
            if type(p) == 'table' and p[1] then return ignore end
            if #redis.call('XRANGE', act, st.entry, st.entry) == 0 then
                return ignore
            end
        end
        plan = {action = 'time_out', timeout = 'SCHEDULE_TO_START'}
        if delay == 0 then plan.sc = pa_sched(w, m.a) end
    else
        -- 'l': a leased attempt (see LEASE) still holding that lease
        -- times out as the reclaim of an idle stream entry times it out
        -- (duro_act_timeout): START_TO_CLOSE past its start-to-close,
        -- HEARTBEAT when no heartbeat came for its heartbeat timeout;
        -- heartbeats came meanwhile: the timer comes back at the new
        -- deadline (a heartbeat itself writes no timer)
        local started = LEASE.is(st.entry) and LEASE.started(st.entry)
        if not started then return ignore end
        local sc = pa_sched(w, m.a)
        local stc, hbt, hb = num(sc.stc) or 0, num(sc.hbt) or 0,
                             tonumber(st.hb) or 0
        if stc > 0 and w.now >= started + stc then
            plan = {action = 'time_out', timeout = 'START_TO_CLOSE', sc = sc}
        elseif hbt > 0 and w.now - math.max(started, hb) >= hbt then
            plan = {action = 'time_out', timeout = 'HEARTBEAT', sc = sc}
        else
            return {action = 'extend_lease',
                    due = LEASE.due(started, stc, hbt, hb)}
        end
    end
    -- timed out: retried (at once: the attempt queued again; later: an
    -- 'r' timer) or resolved (its outcome delivered)
    if TASK.retries(w, st, delay) then
        plan.again = delay == 0
    else
        plan.delivers = true
    end
    return plan
end

-- duro_timer_fire 9 wf hist buf wft timers pa idx_open idx_closed act
--                 member [retry_delay_ms]
-- (retry_delay_ms: for q and l timers, the delay before the next attempt if the
-- waiting one times out; -1 or absent: no retry)
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
    -- an outbox record is carried by duro_xfer_take/apply/ack: a scheduler
    -- of an older release that hands it here must not remove it
    if m and m.kind == 'o' then return 'ignored' end
    local w = m and load_wf(k, now, WF_FIELDS.hot.timer[m.kind])
    if not m or not current(w, m.run) then
        redis.call('ZREM', k.timers, member)
        return 'ignored'
    end
    local bad
    if m.kind == 'x' or m.kind == 'n' then
        bad = check_close(k, w)
    end
    if bad then return bad end
    -- an activity's timer: its records read (a damaged one refuses the
    -- fire, keeping the timer)
    local st, delay
    if m.kind == 'r' or m.kind == 's' or m.kind == 'q' or m.kind == 'l' then
        st, delay = pa_state(w, m.a), tonumber(args[2]) or -1
    end
    -- what the fire does (TASK.plan); a fire that queues a workflow task:
    -- its keys; one that acks an attempt's entry or queues an attempt
    -- again at once: the activity stream, and for the latter the
    -- attempt's fair keys
    local plan = TASK.plan(w, act, m, st, delay)
    if plan.bad then return plan.bad end
    local action = plan.action
    bad = (plan.act or plan.again) and probe(act, 'stream') or
              plan.delivers ~= nil and TASK.wft_check(w, plan.delivers) or
              plan.again and TASK.probe(TASK.act_written(act, {}))
    if bad then return bad end
    -- validated: the timer goes with the writes it causes, never before
    redis.call('ZREM', k.timers, member)
    if action == 'ignore' then
        return 'ignored'
    elseif action == 'fire_timer' then
        deliver(w, 'TimerFired', '{"seq":' .. m.a .. '}')
    elseif action == 'enqueue_attempt' then
        enqueue_activity(w, act, m.a, m.b, st, plan.sc)
    elseif action == 'close_activity' then
        ack(act, st.entry)
        if LEASE.is(st.entry) then
            redis.call('ZREM', w.k.timers,
                       LEASE.member(w, m.a, st.attempt, m.actq))
        end
        resolve_activity(w, m.a, 'ActivityTimedOut',
                         timed_out_data(m.a, st.attempt, 'SCHEDULE_TO_CLOSE'), st)
    elseif action == 'enqueue_wft' then
        enqueue_wft(w, m.a)
    elseif action == 'recheck_sticky' then
        add_timer(w.k.timers, plan.due, member)
    elseif action == 'move_off_sticky' then
        unstick(w)
    elseif action == 'extend_lease' then
        if plan.due then
            redis.call('ZADD', w.k.timers, str(plan.due), member)
        end
    elseif action == 'time_out' then
        if m.kind == 'q' then
            -- off its queue: the stream entry, or the 'r' timer it waits for
            if st.entry ~= '' then
                ack(act, st.entry)
            else
                redis.call('ZREM', w.k.timers,
                           timer_member('r', w.run, m.a, m.b, w.queue, m.actq,
                                        w.id))
            end
        end
        local t = plan.timeout
        retry_or_resolve(w, act, m.a, tonumber(m.b), delay, timeout_failure(t),
                         'ActivityTimedOut', timed_out_data(m.a, m.b, t), st,
                         plan.sc)
    elseif action == 'time_out_run' then
        append(w, 'WorkflowTimedOut',
               '{"timeoutType":"' .. plan.timeout .. '"}')
        close(w, 'TIMED_OUT', 'failure', '{"message":"workflow ' ..
                  (plan.timeout == 'RUN' and 'run' or 'execution') ..
                  ' timed out","type":"TimeoutError","nonRetryable":true}')
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
    local bad = check_close(k, w)
    if bad then return bad end
    terminate_run(w, data, reason)
    return 'ok'
end

-- duro_sticky_release 5 wf hist buf wft timers  run worker
-- (hist and buf unused)
-- A worker that drops a run from its cache (evicted, or stopping) gives up
-- being its sticky worker: a task already waiting in its sticky stream
-- moves to the shared one at once ('moved'), else the run's next task
-- goes there ('released'); 'none' when the worker was not the run's.
local function duro_sticky_release(k, args)
    local run, worker = args[1], args[2]
    if not (run and worker and worker ~= '') then
        return fail('DURO_BADARG', 'duro_sticky_release needs 2 arguments')
    end
    local w = load_wf(k, nil, WF_FIELDS.hot.wft)
    if not current(w, run) then return 'none' end
    if w.wft == '1' and w.wft_sticky == worker and w.wft_entry ~= '' then
        local wrong = TASK.wft_check(w)
        if wrong then return wrong end
        unstick(w)
        return 'moved'
    end
    if w.sticky ~= worker then return 'none' end
    set_sticky(w, '')
    return 'released'
end

-- ---- Reset ---------------------------------------------------------------

-- RESET_KEYS: duro_reset's keys before the activity streams (KEYS[11..]).
local RESET_KEYS = 10

-- RESET_PENDING: what a reset re-creates of the pending work at its point
-- (ARGV after npend): kind, then that many fields.
local RESET_PENDING = {
    activity = {'seq', 'key', 'name', 'input', 'opts', 'stc', 'hbt', 'stc2'},
    timer = {'seq', 'fire_in_ms'},
}

-- is_code: element item is an event of type etype (by code or name).
local function is_code(item, etype)
    local code = EVENT_CODE[etype]
    return (code and string.sub(item, 1, #code + 1) == code .. '\n') or
               string.sub(item, 1, #etype + 1) == etype .. '\n'
end

-- event_data: the data part of an encoded event.
local function event_data(item)
    local a = string.find(item, '\n', 1, true)
    local b = a and string.find(item, '\n', a + 1, true)
    return b and string.sub(item, b + 1) or '{}'
end

-- reset_pending decodes the pending list of duro_reset (checked: a bad
-- one is refused before any write). Returns the list and the index of
-- the argument after it, or nil and an error.
local function reset_pending(args, first, n, nkeys)
    local list, i = {}, first
    for _ = 1, n do
        local fields = RESET_PENDING[args[i]]
        if not fields then return nil, 'unknown pending kind ' .. tostring(args[i]) end
        local c = {kind = args[i]}
        for j = 1, #fields do c[fields[j]] = args[i + j] end
        if i + #fields > #args then return nil, 'truncated pending list' end
        if c.kind == 'activity' then
            c.key = tonumber(c.key)
            if not c.key or c.key < RESET_KEYS + 1 or c.key > nkeys then
                return nil, 'activity key index out of range'
            end
        end
        list[#list + 1] = c
        i = i + 1 + #fields
    end
    return list, i
end

-- duro_reset 10+A+C wf hist buf wft timers pa idx_open idx_closed
--     hist_cur hist_src act_1..act_A chain_1..chain_C  id run src_run
--     cur_run event_id reason type queue input exec_timeout_ms
--     wft_timeout_ms npend pending... [run_timeout_ms [C]]
-- Starts run `run` (its history is `hist`) from run src_run's history
-- (hist_src) up to event event_id, a WorkflowTaskCompleted: events
-- 1..event_id-1 are copied as they are, so that task runs again; the
-- signals src_run received after that point, then those of the runs it
-- continued as (chain_1..chain_C, the client's walk of the chain; and,
-- when src_run or chain_C is the running run, those still buffered) are
-- appended again; then the work pending at
-- the point is re-created as the client read it from the same events
-- (pending: `activity seq key name input opts stc hbt stc2` (key: the KEYS
-- index of its stream), `timer seq fire_in_ms`), and the first workflow
-- task is queued. A RUNNING run (cur_run, history hist_cur) is terminated
-- first. The hash records reset_from "<src_run> <event_id>" and
-- reset_reason for the new run, and reset:<src_run> = run for the old one.
-- run_timeout_ms (src_run's, from its WorkflowStarted; absent from clients
-- older than library 64: none) limits the new run from now. Returns run.
local function duro_reset(k, args, keys)
    local id, run, src, cur, n = args[1], args[2], args[3], args[4] or '',
                                 tonumber(args[5])
    local reason = args[6] or ''
    local npend = tonumber(args[12])
    if not (id and run and src and n and args[9] and npend) then
        return fail('DURO_BADARG', 'duro_reset arguments')
    end
    local pending, after = reset_pending(args, 13, npend, #keys)
    if not pending then return fail('DURO_BADARG', after) end
    local run_timeout, nchain = args[after], tonumber(args[after + 1] or '0')
    if (run_timeout and not num(run_timeout)) or not nchain or nchain < 0 or
        nchain % 1 ~= 0 or nchain > #keys - RESET_KEYS then
        return fail('DURO_BADARG', 'duro_reset run_timeout_ms or chain')
    end
    local chain = {}
    for i = #keys - nchain + 1, #keys do chain[#chain + 1] = keys[i] end
    for _, c in ipairs(pending) do
        if c.key and c.key > #keys - nchain then
            return fail('DURO_BADARG', 'activity key index out of range')
        end
    end
    local acts, want = {}, {}
    for i = RESET_KEYS + 1, #keys - nchain do
        acts[#acts + 1], want[#want + 1] = keys[i], 'stream'
    end
    local wrong = check_types(acts, want)
    if wrong then return wrong end
    local status = read('hash', 'HMGET', k.wf, 'status', 'run', 'wft_timeout',
                        'retention', 'priority', 'fkey', 'fweight')
    if not status[1] then return fail('DURO_NOT_FOUND', 'no such workflow') end
    -- the new run keeps the priority and fairness key: its task's keys,
    -- and those of the activities it re-creates (each with its own
    -- priority and key or the run's: schedule_activity)
    local flow = {priority = status[5], fkey = status[6]}
    local need = TASK.written(k.wft, status[5], status[6], {})
    for _, c in ipairs(pending) do
        if c.kind == 'activity' then
            local prio = act_priority(flow, c.opts)
            local fkey = act_fairness(flow, c.opts)
            if prio or fkey then TASK.written(keys[c.key], prio, fkey, need) end
        end
    end
    wrong = TASK.probe(need)
    if wrong then return wrong end
    local w
    if status[1] == 'RUNNING' then
        if status[2] ~= cur then return fail('DURO_STALE', status[2]) end
        local kc = {}
        for name, key in pairs(k) do kc[name] = key end
        kc.hist = k.hist_cur
        w = load_wf(kc)
        if not current(w, cur) then return fail('DURO_STALE', status[2]) end
        local bad = check_close(kc, w)
        if bad then return bad end
    end
    local len = history_len(k.hist_src)
    if len == 0 then
        return fail('DURO_NOT_FOUND', 'no history for run ' .. src)
    end
    local at = n >= 2 and n <= len and redis.call('LINDEX', k.hist_src, n - 1)
    if not at or not is_code(at, 'WorkflowTaskCompleted') then
        return fail('DURO_BADARG', 'event ' .. tostring(args[5]) ..
                        ' is not a workflow task completion of run ' .. src)
    end
    -- the inbound events to carry over, read before anything is written
    local kept = redis.call('LRANGE', k.hist_src, 0, n - 2)
    local later = redis.call('LRANGE', k.hist_src, n - 1, -1)
    local signals = {}
    for _, item in ipairs(later) do
        if is_code(item, 'SignalReceived') then
            signals[#signals + 1] = event_data(item)
        end
    end
    for _, key in ipairs(chain) do
        history_len(key) -- a list (or none)
        for _, item in ipairs(redis.call('LRANGE', key, 0, -1)) do
            if is_code(item, 'SignalReceived') then
                signals[#signals + 1] = event_data(item)
            end
        end
    end
    if w and (src == cur or chain[#chain] == k.hist_cur) then
        for _, item in ipairs(read('list', 'LRANGE', k.buf, 0, -1)) do
            if is_code(item, 'SignalReceived') then
                signals[#signals + 1] = event_data(item)
            end
        end
    end
    if w then
        terminate_run(w, '{"reason":' .. json_str(reason) .. ',"resetRunId":' ..
                          json_str(run) .. '}',
                      'reset to run ' .. run .. ': ' .. reason)
        flush(w)
    end
    local wft_timeout = args[11] ~= '0' and args[11] or status[3] or '10000'
    local start = {id, run, args[7], args[8], args[9], '', args[10],
                   wft_timeout, retention = status[4], priority = status[5],
                   fkey = status[6], fweight = status[7],
                   run_timeout = run_timeout}
    start_run(k, start, nil, nil, vis_carry(k.wf, src), function(nw)
        local canceled = false
        for _, item in ipairs(kept) do
            push_event(nw, item)
            canceled = canceled or is_code(item, 'CancelRequested')
        end
        for _, data in ipairs(signals) do
            append(nw, 'SignalReceived', data)
        end
        if canceled then set(nw, 'cancel_requested', '1') end
        for _, c in ipairs(pending) do
            if c.kind == 'activity' then
                schedule_activity(nw, keys[c.key], c)
            else
                add_timer(nw.k.timers,
                          nw.now + math.max(0, tonumber(c.fire_in_ms) or 0),
                          timer_member('t', run, c.seq, 0, nw.queue, '-', id))
            end
        end
        set(nw, 'reset_from', src .. ' ' .. str(n))
        set(nw, 'reset_reason', reason)
        set(nw, 'reset:' .. src, run)
    end)
    return run
end

-- duro_history_upgrade 2 wf hist  (wf unused)
-- Turns a history written by library 11 or older (a stream) into a list,
-- in place (upgrade_history): readers that meet one (WRONGTYPE on LRANGE)
-- call this and read again. Returns the number of events converted, 0
-- when the history is a list already (or absent).
local function duro_history_upgrade(k)
    local n = upgrade_history(k.hist)
    if n then return n end
    history_len(k.hist) -- a key of another type: DURO_WRONGTYPE
    return 0
end

-- ---- Visibility reads ----------------------------------------------------
-- Its Functions are the only names the rest of the library uses.
local duro_vis_scan, duro_vis_backfill, duro_purge
do -- the section's helpers end with it (Lua: 200 locals per chunk)
    -- vis_value: row field f as a filter compares it (t: the filter's type
    -- letter), nil when absent or stored with another type.
    local function vis_value(row, f, t)
        local v = row[f]
        if v == nil or v == '' then return nil end
        if f == 'start' or f == 'close' then return tonumber(v) end
        if string.sub(f, 1, 2) ~= 'a:' then return v end
        if string.sub(v, 1, 1) ~= t then return nil end
        local json = string.sub(v, 2)
        if t == 'B' then return json == 'true' end
        if t == 'I' or t == 'D' or t == 'd' then return tonumber(json) end
        local ok, d = pcall(cjson.decode, json)
        return ok and d or nil
    end

    -- words: the lower-case words of a Text value.
    local function words(s)
        local set = {}
        for word in string.gmatch(string.lower(s), '[%w_]+') do set[word] = true end
        return set
    end

    local function text_match(v, x)
        local have = words(v)
        for word in pairs(words(x)) do
            if not have[word] then return false end
        end
        return true
    end

    local function list_has(list, x)
        for i = 1, #list do
            if list[i] == x then return true end
        end
        return false
    end

    -- cmp evaluates one comparison (vq_compile.c's node) against value v.
    local function cmp(o, t, v, vals)
        if o == 'null' then return v == nil end
        if o == 'notnull' then return v ~= nil end
        if v == nil then
            -- as Temporal's Elasticsearch visibility: a negation matches a row
            -- that lacks the field
            return o == '!=' or o == 'notin' or o == 'notbetween'
        end
        local x = vals[1]
        if t == 'L' then
            if type(v) ~= 'table' then return false end
            local any = false
            for i = 1, #vals do any = any or list_has(v, vals[i]) end
            if o == '=' or o == 'in' then return any end
            return not any
        end
        if t == 'T' then
            local m = text_match(v, x)
            if o == '=' then return m end
            return not m
        end
        if o == '=' then return v == x end
        if o == '!=' then return v ~= x end
        if o == 'in' or o == 'notin' then
            local found = false
            for i = 1, #vals do found = found or v == vals[i] end
            return found == (o == 'in')
        end
        if type(v) ~= type(x) then return false end
        if o == '>' then return v > x end
        if o == '>=' then return v >= x end
        if o == '<' then return v < x end
        if o == '<=' then return v <= x end
        if o == 'sw' then return string.sub(v, 1, #x) == x end
        if o == 'between' or o == 'notbetween' then
            local y = vals[2]
            if type(y) ~= type(v) then return false end
            return (v >= x and v <= y) == (o == 'between')
        end
        return false
    end

    local function matches(node, row)
        local o = node.o
        if o == 'and' then return matches(node.a[1], row) and matches(node.a[2], row) end
        if o == 'or' then return matches(node.a[1], row) or matches(node.a[2], row) end
        return cmp(o, node.t, vis_value(row, node.f, node.t), node.v)
    end

    -- scan_position: where a scan of key resumes after (score s, member m):
    -- just past m when m is still there with that score (O(log n)), else
    -- past every entry before score s; the caller skips the rest of the tie.
    local function scan_position(key, desc, s, m)
        local sc = redis.call('ZSCORE', key, m)
        if sc and tonumber(sc) == s then
            local r = redis.call(desc and 'ZREVRANK' or 'ZRANK', key, m)
            return r + 1
        end
        if desc then return redis.call('ZCOUNT', key, '(' .. str(s), '+inf') end
        return redis.call('ZCOUNT', key, '-inf', '(' .. str(s))
    end

    local SCAN_CHUNK = 128

    -- row_run: a row's fields (HGETALL) with its run id `run`: a row
    -- written by library 31 or newer has no `run` field (its key names it)
    local function row_run(flat, run)
        for j = 1, #flat, 2 do
            if flat[j] == 'run' then return flat end
        end
        flat[#flat + 1], flat[#flat + 2] = 'run', run
        return flat
    end

    -- scan_start: where a scan of key begins without a cursor: at the bound
    -- the order allows (lo/hi: score bounds, nil for none).
    local function scan_start(key, desc, lo, hi)
        if desc and hi then
            return redis.call('ZCOUNT', key, '(' .. str(hi), '+inf')
        end
        if not desc and lo then
            return redis.call('ZCOUNT', key, '-inf', '(' .. str(lo))
        end
        return 0
    end

    -- duro_vis_scan K index_1..index_K  filter asc|desc cursor budget limit
    --                                   rows|count [min max]
    -- (read-only: FCALL_RO) Reads the partition's visibility rows in the order
    -- of index_1, then index_2, ... (zsets of run ids), from just past cursor
    -- ("<phase>|<score>|<run>", "" from the start), keeping those that match
    -- filter (vq_compile.c's JSON tree, "" for all). Stops after `budget`
    -- index entries or `limit` matches. Returns {next_cursor ("" when the
    -- indexes are exhausted), matches, rows} where each row is {phase, score,
    -- [field, value, ...]} (rows mode; count mode returns no rows). min and
    -- max ("" for none) bound the index scores: the scan starts at one and
    -- stops past the other, the filter still deciding.
    function duro_vis_scan(keys, args)
        local filter = args[1] ~= '' and cjson.decode(args[1]) or nil
        local desc = args[2] == 'desc'
        local cph, cs, cm = string.match(args[3] or '', '^(%d+)|([^|]+)|(.+)$')
        local budget = tonumber(args[4]) or 1000
        local limit = tonumber(args[5]) or 100
        local rows_mode = args[6] ~= 'count'
        local lo, hi = tonumber(args[7] or ''), tonumber(args[8] or '')
        local prefix = slot_prefix_of(keys[1])
        cph, cs = tonumber(cph) or 1, tonumber(cs)
        if not cs and not filter and not rows_mode then
            local n = 0
            for i = 1, #keys do
                n = n + redis.call('ZCOUNT', keys[i], lo and str(lo) or '-inf',
                                   hi and str(hi) or '+inf')
            end
            return {'', n, {}}
        end
        local out, n, seen = {}, 0, 0
        for ph = cph, #keys do
            local key = keys[ph]
            local tie = ph == cph and cs ~= nil
            local pos = tie and scan_position(key, desc, cs, cm) or
                            scan_start(key, desc, lo, hi)
            local past = false
            while not past do
                local z = redis.call(desc and 'ZREVRANGE' or 'ZRANGE', key, pos,
                                     pos + SCAN_CHUNK - 1, 'WITHSCORES')
                if #z == 0 then break end
                for i = 1, #z, 2 do
                    local m, score = z[i], z[i + 1]
                    local sn = tonumber(score)
                    pos = pos + 1
                    local skip = tie and sn == cs and
                                     ((desc and m >= cm) or (not desc and m <= cm))
                    past = (desc and lo and sn < lo) or (not desc and hi and sn > hi)
                    if past then break end
                    if not skip then
                        seen = seen + 1
                        local flat = redis.call('HGETALL', prefix .. ':vis:' .. m)
                        local ok = #flat > 0
                        if ok then flat = row_run(flat, m) end
                        if ok and filter then
                            local row = {}
                            for j = 1, #flat, 2 do row[flat[j]] = flat[j + 1] end
                            ok = matches(filter, row)
                        end
                        if ok then
                            n = n + 1
                            if rows_mode then out[#out + 1] = {ph, score, flat} end
                        end
                        local cursor = ph .. '|' .. score .. '|' .. m
                        if (rows_mode and n >= limit) or seen >= budget then
                            return {cursor, n, out}
                        end
                    end
                end
            end
        end
        return {'', n, out}
    end

    -- duro_vis_backfill 1 idx  offset count
    -- (an upgrade from a library that wrote idx:open/idx:closed) Writes the
    -- row and index entries of the current run of each workflow in idx (a
    -- partition's idx:open or idx:closed), entries offset .. offset+count-1,
    -- whose run has no row yet (a closed run gets its closed status and close
    -- time, so the retention sweep finds it in vx:close), and removes those
    -- entries: the old index empties as it is migrated, and a call that finds
    -- it empty costs one ZRANGE. The workflow hashes are derived from idx's
    -- prefix, as the rows are. Returns {next_offset (-1: done; else offset
    -- again, the entries read being gone), rows_written}.
    function duro_vis_backfill(keys, args)
        local idx = keys[1]
        local prefix = slot_prefix_of(idx or '')
        local off, n = tonumber(args[1]), tonumber(args[2])
        if not prefix or not off or not n or n < 1 then
            return fail('DURO_BADARG', 'duro_vis_backfill idx offset count')
        end
        local ids = read('zset', 'ZRANGE', idx, off, off + n - 1)
        local written = 0
        for _, id in ipairs(ids) do
            local wf = prefix .. ':wf:' .. id
            local v = redis.call('HMGET', wf, 'run', 'type', 'queue', 'status',
                                 'start_ms', 'close_ms')
            if v[1] and v[4] and
                redis.call('EXISTS', prefix .. ':vis:' .. v[1]) == 0 then
                vis_start(wf, id, v[1], v[2] or '', v[3] or '',
                          str(tonumber(v[5]) or 0))
                if v[4] ~= 'RUNNING' then
                    vis_close({k = {wf = wf}, id = id, run = v[1],
                               now = tonumber(v[6]) or 0}, v[4])
                end
                written = written + 1
            end
        end
        if #ids > 0 then redis.call('ZREM', idx, unpack(ids)) end
        return {#ids < n and -1 or off, written}
    end

    -- duro_purge 8 wf hist buf wft timers pa idx_open idx_closed  run cutoff_ms
    -- (wft, timers unused) removes closed run `run` with everything it owns,
    -- whichever run of its id it is: when it is the id's current run (and,
    -- cutoff_ms not 0, closed at or before cutoff_ms: the retention sweep)
    -- the hash, history, buffer, pending activities, visibility row and index
    -- entries; when the hash names another run (an older run of a reused id)
    -- or is gone, that run's history, its `reset:<run>` field and update
    -- records (`u:<run>:<id>`), its row and index entries. idx_open/
    -- idx_closed entries of the id (written by a library before this
    -- one) go with the hash. Idempotent: a second call
    -- finds nothing and answers 0. Returns 1 when something was removed, 0
    -- when not (or not yet due), DURO_NOT_CLOSED for a running run (the sweep,
    -- cutoff_ms not 0: 0, and a stale idx:closed entry goes).
    function duro_purge(k, args)
        local run, cutoff = args[1], tonumber(args[2] or '0') or 0
        if not run or run == '' then return fail('DURO_BADARG', 'duro_purge') end
        local v = read('hash', 'HMGET', k.wf, 'run', 'status', 'close_ms')
        local id = string.match(k.wf, '}:wf:(.*)$')
        if v[1] ~= run then
            -- the hash is the current run's: of that run, its update
            -- records (u:<run>:<update id>) and reset:<run> are in it
            local drop = {}
            if v[1] then
                local flat = redis.call('HGETALL', k.wf)
                local pre = 'u:' .. run .. ':'
                for i = 1, #flat, 2 do
                    if string.sub(flat[i], 1, #pre) == pre then
                        drop[#drop + 1] = flat[i]
                    end
                end
                drop[#drop + 1] = 'reset:' .. run
            end
            local n = redis.call('DEL', k.hist)
            if not v[1] then
                n = n + redis.call('ZREM', k.idx_closed, id)
            end
            for i = 1, #drop, 1000 do
                n = n + redis.call('HDEL', k.wf,
                                   unpack(drop, i, math.min(i + 999, #drop)))
            end
            n = n + vis_purge(k.wf, run, id)
            return n > 0 and 1 or 0
        end
        if v[2] == 'RUNNING' then
            -- the sweep met a stale index entry: drop it, never the run
            if cutoff > 0 then
                redis.call('ZREM', k.idx_closed, id)
                return 0
            end
            return fail('DURO_NOT_CLOSED', run)
        end
        if cutoff > 0 and (tonumber(v[3]) or 0) > cutoff then return 0 end
        redis.call('DEL', k.wf, k.hist, k.buf, k.pa)
        vis_purge(k.wf, run, id)
        redis.call('ZREM', k.idx_closed, id)
        redis.call('ZREM', k.idx_open, id)
        return 1
    end
end

-- ---- Crossing partitions: the Functions ---------------------------------
do -- the section's locals end with it (Lua: 200 per chunk)

    -- duro_xfer_take 2 timers outbox  member lease_ms [until]
    -- Takes the due outbox record of member for lease_ms (its member is due
    -- again then: a processor that dies mid-way is replaced). Returns
    -- {"taken", body}, with a third argument {"taken", body, until} (the
    -- lease's end, ms, which the apply and the ack are fenced by; a
    -- scheduler older than library 66 reads two elements), {"busy"}
    -- (another holds it) or {"gone"}.
    local function duro_xfer_take(keys, args)
        local timers, outbox, member = keys[1], keys[2], args[1]
        local lease = tonumber(args[2]) or XFER_LEASE_MS
        local m = member and parse_member(member)
        if not m or m.kind ~= 'o' then return fail('DURO_BADARG', 'not a record') end
        local due = read('zset', 'ZSCORE', timers, member)
        if not due then return {'gone'} end
        local now = now_ms()
        if tonumber(due) > now then return {'busy'} end
        local body = read('hash', 'HMGET', outbox, xfer_rid(m.run, m.a, m.b))[1]
        if not body then
            redis.call('ZREM', timers, member)
            return {'gone'}
        end
        redis.call('ZADD', timers, 'XX', str(now + lease), member)
        if args[3] then return {'taken', body, str(now + lease)} end
        return {'taken', body}
    end

    -- duro_xfer_ack 2 timers outbox  member [until]
    -- The record was applied: it goes ('ok'). With until (the take's), only
    -- while that lease holds it: 'lost' when another take holds it since,
    -- whose apply may still come, so its mark must stay.
    local function duro_xfer_ack(keys, args)
        local m = args[1] and parse_member(args[1])
        if not m or m.kind ~= 'o' then return fail('DURO_BADARG', 'not a record') end
        local due = read('zset', 'ZSCORE', keys[1], args[1])
        read('hash', 'HMGET', keys[2], 'x')
        if args[2] and due and tonumber(due) ~= tonumber(args[2]) then
            return 'lost'
        end
        redis.call('ZREM', keys[1], args[1])
        redis.call('HDEL', keys[2], xfer_rid(m.run, m.a, m.b))
        return 'ok'
    end

    -- xfer_reply writes the report of record r (outcome) back to its sender,
    -- as a record of this partition living with r's target.
    local function xfer_reply(k, r, outcome, now)
        if not r.reply_id then return end
        local etype = outcome == 'delivered' and r.reply_ok or r.reply_fail
        local data = '{"seq":' .. r.seq .. ',"workflowId":' .. json_str(r.id)
        if outcome ~= 'delivered' then data = data .. ',"cause":"NotFound"' end
        xfer_put(k.outbox, k.timers, now, r.id, r.reply_run, r.seq, r.reply_b,
                 {op = 'deliver', id = r.reply_id, run = r.reply_run,
                  event = etype, data = data .. '}'})
    end

    -- xfer_start starts the child of record r, or reports why not.
    local function xfer_start(k, r)
        local prev = read('hash', 'HMGET', k.wf, 'status', 'run', 'token',
                          'retention', 'priority', 'fkey', 'fweight')
        local report = {op = 'deliver', id = r.parent, run = r.parent_run,
                        child = r.seq}
        local now = now_ms()
        local refused = prev[1] == 'RUNNING' or
            reuse_refused(r.policy or 'AllowDuplicate', prev[1], prev[2])
        if refused then
            report.event = 'ChildWorkflowStartFailed'
            report.data = '{"seq":' .. r.seq .. ',"workflowId":' ..
                json_str(r.id) .. ',"cause":"WorkflowAlreadyStarted"}'
            xfer_put(k.outbox, k.timers, now, r.id, r.parent_run, r.seq,
                     XFER.started, report)
            return 'exists'
        end
        local args = {r.id, r.run, r.type, r.queue, r.input, r.started,
                      r.exec_timeout, r.wft_timeout}
        args.prev = {prev[3], prev[4], prev[5], prev[6], prev[7]}
        args.retention = r.retention
        -- the child inherits its parent's priority and fairness key
        args.priority, args.fkey = r.priority, r.fkey
        args.fweight = r.fkey and r.fweight or nil
        local wrong = TASK.check(k.wft, r.priority, r.fkey)
        if wrong then return wrong end
        start_run(k, args)
        -- through the new run's context (set: its `opt` follows)
        set(LOADED[#LOADED], 'parent', cjson.encode(
            {id = r.parent, run = r.parent_run, seq = r.seq}))
        report.event = 'ChildWorkflowStarted'
        report.data = '{"seq":' .. r.seq .. ',"workflowId":' .. json_str(r.id) ..
            ',"runId":"' .. r.run .. '"}'
        xfer_put(k.outbox, k.timers, now, r.id, r.parent_run, r.seq, XFER.started,
                 report)
        return 'started'
    end

    -- xfer_child_event delivers a child's report to its parent w: the parent's
    -- `child:<seq>` field makes it once only (ChildWorkflowStarted first,
    -- even when the close report comes before the start's).
    -- A field damaged by hand (not a JSON object, id or run not strings)
    -- is refused before anything is written: DURO_BADARG drops the record
    -- instead of a Lua error that would retry it forever.
    local function xfer_child_event(w, r, rid)
        local field = 'child:' .. r.child
        local raw = redis.call('HMGET', w.k.wf, field)[1]
        local ok, c = pcall(cjson.decode, raw or '{}')
        if not ok or type(c) ~= 'table' or
            (raw and (type(c.id) ~= 'string' or type(c.run) ~= 'string')) then
            return fail('DURO_BADARG', 'record ' .. rid .. ': parent ' ..
                            w.id .. ' field ' .. field .. ' is damaged')
        end
        if not c.id or (r.event == 'ChildWorkflowStarted' and c.started) then
            return 'duplicate'
        end
        if r.event == 'ChildWorkflowStarted' then
            c.started = true
            redis.call('HSET', w.k.wf, field, cjson.encode(c))
        else
            if not c.started and r.event ~= 'ChildWorkflowStartFailed' then
                deliver(w, 'ChildWorkflowStarted', '{"seq":' .. r.child ..
                            ',"workflowId":' .. json_str(c.id) .. ',"runId":"' ..
                            c.run .. '"}')
            end
            redis.call('HDEL', w.k.wf, field)
            set(w, 'children', str(math.max((tonumber(w.children) or 1) - 1, 0)))
        end
        deliver(w, r.event, r.data)
        return 'delivered'
    end

    -- xfer_targets: running run w is the one record r names: a parent's
    -- close policy names its child's chain (w's parent is r's sender),
    -- anything else a run (or none: the current one).
    local function xfer_targets(w, r)
        if r.parent_run then
            local p = json_obj(w.parent)
            return p.id == r.parent and p.run == r.parent_run
        end
        return not r.run or r.run == '' or r.run == w.run
    end

    -- xfer_deliver applies a record to a running workflow: an inbound event
    -- (deliver), a cancellation request (cancel) or a termination
    -- (terminate); 'notfound' when there is no such running run.
    local function xfer_deliver(k, r, rid)
        local w = load_wf(k)
        if not w or w.status ~= 'RUNNING' or not xfer_targets(w, r) then
            return 'notfound'
        end
        if not current(w, w.run) then return fail('DURO_STALE', 'run changed') end
        -- a cancel already requested delivers nothing (nor probes)
        local again = r.op == 'cancel' and
                          redis.call('HMGET', k.wf, 'cancel_requested')[1] ==
                          '1'
        local wrong = r.op ~= 'terminate' and not again and
                          TASK.wft_check(w, true)
        if wrong then return wrong end
        if r.op == 'terminate' then
            local ok, d = pcall(cjson.decode, r.data or '{}')
            local reason = ok and type(d) == 'table' and d.reason or 'terminated'
            local bad = check_close(k, w)
            if bad then return bad end
            terminate_run(w, r.data or '{}', tostring(reason))
        elseif r.op == 'cancel' then
            if not again then
                set(w, 'cancel_requested', '1')
                deliver(w, 'CancelRequested', r.data or '{}')
            end
        elseif r.child then
            return xfer_child_event(w, r, rid)
        else
            deliver(w, r.event, r.data)
        end
        return 'delivered'
    end

    -- XFER_NEED: the fields each record op must have (a record that asks
    -- for a reply, reply_id, also XFER_NEED.reply).
    local XFER_NEED = {
        start = {'id', 'run', 'type', 'queue', 'input', 'started', 'parent',
                 'parent_run', 'seq'},
        deliver = {'id', 'event', 'data'}, cancel = {'id'},
        terminate = {'id'},
        reply = {'reply_run', 'reply_b', 'reply_ok', 'reply_fail', 'seq'}}

    -- xfer_bad: why record r (decoded) is not one this library wrote, or
    -- nil: no field an object, an array or true (payloads are JSON text;
    -- an absent option may be false), the op's fields strings, seq, child and
    -- reply_b counts. A record damaged by hand is refused before anything
    -- is written (and dropped), not retried forever.
    local function xfer_bad(r)
        local need = XFER_NEED[r.op]
        if not need or r.op == 'reply' then
            return 'unknown record op ' .. tostring(r.op)
        end
        for f, v in pairs(r) do
            if type(f) ~= 'string' or type(v) == 'table' or v == true then
                return 'field ' .. tostring(f) .. ' is not a string'
            end
        end
        for _, f in ipairs(need) do
            if type(r[f]) ~= 'string' then return 'no string ' .. f end
        end
        if r.reply_id and type(r.reply_id) ~= 'string' then
            return 'no string reply_id'
        end
        for _, f in ipairs(r.reply_id and XFER_NEED.reply or {}) do
            if type(r[f]) ~= 'string' then return 'no string ' .. f end
        end
        for _, f in ipairs({'seq', 'child', 'reply_b'}) do
            if r[f] and (type(r[f]) ~= 'string' or
                         not string.match(r[f], '^%d+$')) then
                return 'field ' .. f .. ' is not a count'
            end
        end
        return nil
    end

    -- duro_xfer_apply 10 wf hist buf wft timers pa idx_open idx_closed outbox
    --                 mark  rid body [until]
    -- Applies outbox record rid (body) to the partition of its target, once:
    -- mark remembers its outcome, answered again to a repeated call. hist is
    -- the history of the run the caller found current (a start: the new
    -- run's), wft the target's task queue stream. Returns started|exists
    -- (op start), delivered|duplicate|notfound.
    local function duro_xfer_apply(k, args)
        local rid, body = args[1], args[2]
        local ok, r = pcall(cjson.decode, body or '')
        if not rid or not ok or type(r) ~= 'table' then
            return fail('DURO_BADARG', 'duro_xfer_apply needs rid body')
        end
        -- a take whose lease is over may have been overtaken, applied and
        -- forgotten (its mark gone): it applies nothing
        if args[3] and now_ms() > (tonumber(args[3]) or 0) then
            return fail('DURO_STALE', 'the lease of record ' .. rid ..
                            ' is over')
        end
        local bad = xfer_bad(r)
        if bad then
            return fail('DURO_BADARG', 'record ' .. rid .. ': ' .. bad)
        end
        local done = read('hash', 'HMGET', k.mark, 'o')[1]
        if done then return done end
        local outcome
        if r.op == 'start' then
            outcome = xfer_start(k, r)
            if type(outcome) == 'table' then return outcome end
        elseif r.op == 'deliver' or r.op == 'cancel' or r.op == 'terminate' then
            outcome = xfer_deliver(k, r, rid)
            if type(outcome) == 'table' then return outcome end
            xfer_reply(k, r, outcome, now_ms())
        end
        redis.call('HSET', k.mark, 'o', outcome)
        redis.call('PEXPIRE', k.mark, XFER_MARK_TTL_MS)
        return outcome
    end
    -- the target's keys, its outbox and the record's mark (extras)
    redis.register_function('duro_xfer_apply', txn(duro_xfer_apply, {
        keys = 8, check = {'buf', 'wft', 'timers'}, extra = {'outbox', 'mark'},
        rest = 'hash'}))
    redis.register_function('duro_xfer_take', duro_xfer_take)
    redis.register_function('duro_xfer_ack', duro_xfer_ack)
end

redis.register_function{function_name = 'duro_version',
                        callback = duro_version,
                        flags = {'no-writes'}}

-- Each Function's key contract (see contract): its prefix of KEY_ORDER,
-- the keys of it that it ignores, the ones txn probes before the
-- body; the others are checked by the body before its first write (wf
-- and the run's history by load_wf; pa where read first), only deleted
-- (buf, pa, the new run's history when a run closes or starts), or
-- checked only when the call closes the run (check_close: nothing now).
local DELIVER = {keys = 4, check = {'buf', 'wft'}}
-- buf and pa: DEL'd by a start; hist_cur: read by load_wf
-- timers: by the body, when the start writes it; idx_open, idx_closed:
-- kept in KEYS, written only by duro_purge (an upgrade's leftovers; see
-- duro_vis_backfill)
-- wft: by the body (a new id's start writes it first)
local START = {keys = 8, extra = {'hist_cur'}}
-- act_release, act_timeout
local ACT_ATTEMPT = {keys = 9, unused = {'idx_open', 'idx_closed'},
                     check = {'buf', 'wft', 'timers', 'pa', 'act'}}

redis.register_function('duro_start', txn(duro_start, START))
-- buf, timers, pa: checked by the body when the call writes them
-- (check_needed); wft by its ack, the first write; act_1..act_A: by the
-- body, those the commands write (command_keys: not a leased activity's)
redis.register_function('duro_wft_complete', txn(duro_wft_complete, {
    keys = WFT_COMPLETE_KEYS}))
redis.register_function('duro_wft_fail', txn(duro_wft_fail, {
    keys = 5, check = {'buf', 'wft', 'timers'}}))
-- pa: read (pa_state) before the first write; act: its ack, the first
-- write; buf, wft, timers: checked by the body when the call writes them
-- act_1..act_A: by the body (check_needed), those the commands write
-- (command_keys: not a leased activity's), before its first write
redis.register_function('duro_act_complete', txn(duro_act_complete, {
    keys = ACT_COMPLETE_KEYS}))
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
    keys = 8, unused = {'wft'}, check = {'timers'}}))
redis.register_function('duro_signal', txn(duro_signal, DELIVER))
-- buf: a running run is signaled (RPUSH while a task is outstanding)
redis.register_function('duro_signal_with_start',
                        txn(duro_signal_with_start, {
    keys = 8, check = {'buf', 'wft', 'timers'}, extra = {'hist_cur'}}))
redis.register_function('duro_cancel', txn(duro_cancel, DELIVER))
redis.register_function('duro_update', txn(duro_update, DELIVER))
-- wf: read by load_wf before the first write
redis.register_function('duro_sticky_release', txn(duro_sticky_release, {
    keys = 5, unused = {'hist', 'buf'}, check = {'wft', 'timers'}}))
-- buf, pa and the new run's history: read first or only deleted before
-- they are written; hist_cur read by load_wf, hist_src by LLEN
redis.register_function('duro_history_upgrade', txn(duro_history_upgrade, {
    keys = 2, unused = {'wf'}}))
redis.register_function('duro_reset', txn(duro_reset, {
    keys = 8, check = {'wft', 'timers'}, extra = {'hist_cur', 'hist_src'}}))
redis.register_function{function_name = 'duro_vis_scan',
                        callback = duro_vis_scan, flags = {'no-writes'}}
redis.register_function('duro_vis_backfill', duro_vis_backfill)
redis.register_function('duro_purge', txn(duro_purge, {
    keys = 8, unused = {'wft', 'timers'},
    check = {'hist', 'buf', 'pa', 'idx_open', 'idx_closed'}}))
redis.register_function('duro_fair_next', duro_fair_next)
redis.register_function('duro_fair_took', duro_fair_took)

-- ---- Schedules -----------------------------------------------------------
-- A schedule (docs/internals.md "Schedules") lives in the partition of its
-- id: the hash sched (spec, action, policies, state), its last actions
-- (list acts), its requests (list req: "T<ms>" trigger, "B<a>:<b>"
-- backfill), the partition's set of schedule ids (scheds), and one timer
-- 'c|-|0|0|-|-|<id>' in timers. The scheduler computes the times (cron,
-- time zones, policies) in C; these Functions only store what it decided,
-- atomically, fenced by a claim token.
do -- the schedules section's locals end with it (Lua: 200 per chunk)

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

    -- sched_int: integer field f of hash sched, 0 when absent or damaged
    -- (not a whole number, as a hand edit may leave it). HINCRBY would
    -- fail there after the Function's first write (half a fire recorded,
    -- and the same failure at every fire after): the counters are read
    -- before the first write and stored whole.
    local function sched_int(sched, f)
        local v = tonumber(redis.call('HGET', sched, f))
        if not v or v % 1 ~= 0 or v <= -9007199254740992 or
            v >= 9007199254740992 then
            return 0
        end
        return v
    end

    -- sched_checked wraps fn to check its KEYS' types first. CHECKED
    -- emptied first, as txn does: what an earlier call found of a key (a
    -- zset) is no proof now, and a key made a string since would pass the
    -- check, to fail the call halfway at its first ZADD.
    local function sched_checked(fn, types)
        return function(keys, args)
            CHECKED = {}
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
    -- paused: a timer there stays, as duro_sched_pause leaves it). State
    -- (counts, running, buffer, actions) survives update.
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
        hset[#hset + 1] = 'rev'
        hset[#hset + 1] = str(sched_int(sched, 'rev') + 1)
        if mode == 'create' then
            local init = {'created_ms', str(now), 'missed', '0', 'skipped', '0',
                          'actions', '0', 'running', '', 'buffer', ''}
            for i = 1, #init do hset[#hset + 1] = init[i] end
        end
        redis.call('HSET', unpack(hset))
        redis.call('SADD', scheds, id)
        if due ~= '-' then
            add_timer(timers, tonumber(due), sched_member(id))
        end
        return 'ok'
    end

    -- duro_sched_pause 2 sched timers  id paused note next_nominal due
    -- paused '1': the timer stays where it is (a trigger or backfill that
    -- waits for it is acted on; the fire finds the schedule paused, takes
    -- no scheduled time and removes it); '0' on a paused schedule: the
    -- timer at due, next_nominal from now on (times passed while paused
    -- are not acted on); '0' on one that is not paused only sets the note:
    -- its times still to be taken (a catch-up) are kept.
    local function duro_sched_pause(keys, args)
        local sched, timers = keys[1], keys[2]
        local id, paused, note = args[1], args[2], args[3]
        local bad = sched_numbers(args, {4, 5}, true)
        if bad then return bad end
        if redis.call('EXISTS', sched) == 0 then
            return fail('DURO_NOT_FOUND', 'schedule ' .. id)
        end
        if paused ~= '1' and redis.call('HGET', sched, 'paused') ~= '1' then
            redis.call('HSET', sched, 'note', note)
            return 'ok'
        end
        -- a fire in flight planned with the old state: it must not write
        -- next_nominal or the timer over these (rev)
        redis.call('HSET', sched, 'paused', paused, 'note', note, 'rev',
                   str(sched_int(sched, 'rev') + 1))
        if paused ~= '1' then
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
        local claims = str(sched_int(sched, 'claims') + 1)
        local token = str(now) .. '-' .. claims
        redis.call('HSET', sched, 'claim', token, 'claims', claims)
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
    -- removes it unless starts are buffered.
    local function duro_sched_fire(keys, args)
        local sched, acts, req, timers = keys[1], keys[2], keys[3], keys[4]
        local id, token, rev = args[1], args[2], args[3]
        local bad = sched_numbers(args, {4, 8, 9, 10, 11}) or
                        sched_numbers(args, {5}, true)
        if bad then return bad end
        if redis.call('HGET', sched, 'claim') ~= token then return 'stale' end
        local now = now_ms()
        local counts = {}
        for n, f in ipairs({'missed', 'skipped', 'actions'}) do
            counts[n] = str(sched_int(sched, f) + tonumber(args[7 + n]))
        end
        redis.call('HDEL', sched, 'claim')
        redis.call('HSET', sched, 'running', args[6], 'buffer', args[7],
                   'last_fire_ms', str(now), 'missed', counts[1], 'skipped',
                   counts[2], 'actions', counts[3])
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
        -- paused: no timer but for starts that wait (requests, and the
        -- buffer: a backfill's times buffered behind its first start)
        if redis.call('HGET', sched, 'paused') == '1' and args[7] == '' then
            due = nil
        end
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
end

-- ---- Flow control --------------------------------------------------------
-- A task queue's flow settings (`duro queue config`) live in one hash per
-- queue, `<prefix>{q:<queue>}:flow`: one slot of its own on Redis Cluster,
-- whichever partitions the queue's streams are in. Per kind of task (act:
-- activity tasks, wf: workflow tasks) a rate (`aps` / `wps`: tasks started
-- per second; absent: unlimited), a `burst` (default 1), the token bucket
-- (`tokens`, `ts` the ms of its last refill) and counters `granted` (tasks
-- started under the limit) and `throttled` (takes that found the bucket
-- empty: a worker waited); the wf kind's fields other than `wps` carry
-- the prefix `wf_`. `cpk` is the concurrency per key (duro_conc_acquire).
do -- the flow control section's locals end with it (Lua: 200 per chunk)

    local RATE_FIELDS = {
        act = {'aps', 'burst', 'tokens', 'ts', 'granted', 'throttled'},
        wf = {'wps', 'wf_burst', 'wf_tokens', 'wf_ts', 'wf_granted',
              'wf_throttled'},
    }

    -- finite: x when it is a number other than NaN and +-inf, else nil (a
    -- bucket edited by hand: -inf tokens would stall the queue for ever,
    -- an infinite burst lift the limit)
    local function finite(x)
        x = tonumber(x)
        if x and x == x and x > -math.huge and x < math.huge then return x end
        return nil
    end

    -- duro_rate_take 1 flow  want force [act|wf]
    -- A worker about to read up to `want` tasks of the kind (default act)
    -- takes tokens: returns {granted, wait_ms} where wait_ms is when the next
    -- token is due (0: one is there). `force` 1 takes `want` whatever the
    -- bucket holds (a read got more tasks than granted: the bucket goes into
    -- debt, the next takes wait it out); a negative `want` gives unused tokens
    -- back. Without a limit: {want, 0} and nothing is written.
    local function duro_rate_take(keys, args)
        local key = keys[1]
        local want = tonumber(args[1]) or 0
        local force = args[2] == '1'
        local f = RATE_FIELDS[args[3] or 'act']
        if not f then return fail('DURO_BADARG', 'kind is act or wf') end
        -- HMGET, the first command, refuses a key of another type
        local v = redis.call('HMGET', key, f[1], f[2], f[3], f[4])
        local rate = tonumber(v[1]) or 0
        if rate <= 0 then return {math.max(want, 0), 0} end
        local burst = math.max(finite(v[2]) or 1, 1)
        local now = now_ms()
        local tokens = finite(v[3]) or burst
        local ts = finite(v[4]) or now
        tokens = math.min(burst, tokens + math.max(now - ts, 0) * rate / 1000)
        local granted = want
        if not force and want > 0 then
            granted = math.max(0, math.min(want, math.floor(tokens)))
        end
        tokens = math.min(burst, tokens - granted)
        local wait = 0
        -- at most a day: a rate near 0 makes it infinite, which Redis
        -- would reply as a negative integer
        if tokens < 1 then
            wait = math.min(math.ceil((1 - tokens) * 1000 / rate), 86400000)
        end
        redis.call('HSET', key, f[3], string.format('%.6f', tokens), f[4],
                   str(now))
        if granted > 0 then redis.call('HINCRBY', key, f[5], granted) end
        if want > 0 and granted == 0 then
            redis.call('HINCRBY', key, f[6], 1)
        end
        return {granted, wait}
    end

    redis.register_function('duro_rate_take', duro_rate_take)

    -- duro_conc_acquire 2 slots flow  member limit lease_ms
    -- Concurrency per key (`duro queue config --concurrency-per-key N`): the
    -- attempts of a queue's activities with one concurrency key that run at
    -- once are the members of zset `<prefix>{q:<queue>}:conc:<key>` (same
    -- slot as the queue's flow hash), scored by when their lease ends. A
    -- worker about to start attempt `member` asks here first: leases past
    -- their end (a worker that died with them) go, then the attempt gets a
    -- slot (1) when it holds one already or fewer than `limit` are held;
    -- else 0 and `throttled_key` in the flow hash counts it. The worker ZREMs
    -- its member when the attempt ends; the key expires with its last lease.
    local function duro_conc_acquire(keys, args)
        local slots, flow = keys[1], keys[2]
        local member, limit = args[1], tonumber(args[2]) or 0
        local lease = tonumber(args[3]) or 0
        if not member or limit <= 0 or lease <= 0 then
            return fail('DURO_BADARG', 'duro_conc_acquire arguments')
        end
        local now = now_ms()
        redis.call('ZREMRANGEBYSCORE', slots, '-inf', str(now))
        if not redis.call('ZSCORE', slots, member) and
            redis.call('ZCARD', slots) >= limit then
            redis.call('HINCRBY', flow, 'throttled_key', 1)
            return 0
        end
        redis.call('ZADD', slots, str(now + lease), member)
        local last = redis.call('ZRANGE', slots, -1, -1, 'WITHSCORES')
        redis.call('PEXPIREAT', slots, last[2])
        return 1
    end

    redis.register_function('duro_conc_acquire', duro_conc_acquire)
end
