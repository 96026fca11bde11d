-- bench/lua/profile.lua: the hot Functions of common/lua/duro.lua run by a
-- stock Lua 5.1 (Redis's version), outside Redis, to see what the
-- interpreter itself spends between the redis.calls. Run by
-- scripts/lua-profile (docs/benchmarks.md, "Profiling the Lua alone").
--
-- The library is loaded as Redis 7 loads a Function library: its chunk
-- sees only `redis.register_function` while it loads, then runs with a
-- globals table of its own whose __index forwards to the real globals, so
-- a global read costs what it costs in Redis. redis.call and redis.pcall
-- are served by a small in-memory emulation of the commands the hot path
-- runs (replies converted as Redis converts them: a nil bulk is false, a
-- status is {ok = ...}, an error {err = ...}). The bench chain's five
-- FCALLs per workflow (duro_start, duro_wft_complete scheduling activity 1,
-- two eager duro_act_complete scheduling the next, the last one closing
-- the run) are replayed for N workflows.
--
-- It reports, per Function: microseconds per call of the whole call, of
-- the emulated commands alone (the same commands replayed on their own)
-- and the difference (the Lua's own time, the figure to cut); then a
-- profile of the interpreter: the VM instructions per workflow, by
-- function and by line (a count hook, every instruction counted). Time
-- spent in C functions (string.find, table.concat ...) shows in the
-- times, not in the instruction counts.
--
-- usage: lua5.1 profile.lua DURO_LUA [N] [--top K] [--no-profile]

local path = arg[1] or error('usage: profile.lua DURO_LUA [N] [--top K]')
local N, TOP, PROFILE = 2000, 25, true
do
    local i = 2
    while arg[i] do
        if arg[i] == '--top' then
            TOP = tonumber(arg[i + 1]); i = i + 2
        elseif arg[i] == '--no-profile' then
            PROFILE = false; i = i + 1
        else
            N = tonumber(arg[i]) or error('bad N ' .. arg[i]); i = i + 1
        end
    end
end

local ok_cjson, cjson = pcall(require, 'cjson')
if not ok_cjson then
    error('needs lua-cjson (Debian: apt-get install lua-cjson)')
end

-- ---- The emulated Redis ---------------------------------------------------

local DB = {}             -- key -> {t = type, v = value}
local CLOCK = 1795826420578000 -- us, moves 7 us per TIME
local LOG = false          -- when a table: each command's arguments

local function num(v)
    if type(v) == 'number' then return string.format('%.17g', v) end
    return v
end

local function get(key, t)
    local e = DB[key]
    if not e then return nil end
    if e.t ~= t then
        error({err = 'WRONGTYPE Operation against a key holding the wrong kind of value'})
    end
    return e.v
end

local function make(key, t, v)
    local e = DB[key]
    if e then
        if e.t ~= t then
            error({err = 'WRONGTYPE Operation against a key holding the wrong kind of value'})
        end
        return e.v
    end
    DB[key] = {t = t, v = v}
    return v
end

local function new_stream()
    return {ids = {}, fields = {}, last_ms = 0, last_seq = 0, groups = {}}
end

local function stream_group(s, g)
    local grp = s.groups[g]
    if not grp then
        -- MKSTREAM'd groups of the bench: created at id 0
        grp = {delivered = 0, pending = {}, npending = 0}
        s.groups[g] = grp
    end
    return grp
end

local C = {}

C.TIME = function()
    CLOCK = CLOCK + 7
    local sec = math.floor(CLOCK / 1000000)
    return {string.format('%d', sec), string.format('%d', CLOCK - sec * 1000000)}
end
C.TYPE = function(key)
    local e = DB[key]
    return {ok = e and e.t or 'none'}
end
C.HMGET = function(key, ...)
    local h = get(key, 'hash') or {}
    local out = {}
    for i = 1, select('#', ...) do out[i] = h[(select(i, ...))] or false end
    return out
end
C.HGET = function(key, f) return (get(key, 'hash') or {})[f] or false end
C.HGETALL = function(key)
    local out = {}
    for f, v in pairs(get(key, 'hash') or {}) do
        out[#out + 1] = f; out[#out + 1] = v
    end
    return out
end
C.HSET = function(key, ...)
    local h = make(key, 'hash', {})
    local n = 0
    for i = 1, select('#', ...), 2 do
        local f, v = select(i, ...)
        if h[f] == nil then n = n + 1 end
        h[f] = num(v)
    end
    return n
end
C.HDEL = function(key, ...)
    local h = get(key, 'hash')
    if not h then return 0 end
    local n = 0
    for i = 1, select('#', ...) do
        local f = select(i, ...)
        if h[f] ~= nil then n = n + 1; h[f] = nil end
    end
    if next(h) == nil then DB[key] = nil end
    return n
end
C.DEL = function(...)
    local n = 0
    for i = 1, select('#', ...) do
        local key = select(i, ...)
        if DB[key] then n = n + 1; DB[key] = nil end
    end
    return n
end
C.PEXPIRE = function(key) return DB[key] and 1 or 0 end
C.PERSIST = function() return 0 end
C.PUBLISH = function() return 0 end
C.SPUBLISH = C.PUBLISH
C.LLEN = function(key) return #(get(key, 'list') or {}) end
-- the counts the library probes a key's type by (probe): only the
-- type matters, and that a missing key answers 0
local function count(t)
    return function(key)
        local n = 0
        for _ in pairs(get(key, t) or {}) do n = n + 1 end
        return n
    end
end
C.HLEN, C.ZCARD, C.SCARD = count('hash'), count('zset'), count('set')
C.XLEN = function(key) return #((get(key, 'stream') or {}).ids or {}) end
C.RPUSH = function(key, ...)
    local l = make(key, 'list', {})
    for i = 1, select('#', ...) do l[#l + 1] = num((select(i, ...))) end
    return #l
end
C.LRANGE = function(key)
    local out = {}
    for i, v in ipairs(get(key, 'list') or {}) do out[i] = v end
    return out
end
C.ZADD = function(key, ...)
    local z = make(key, 'zset', {})
    local n = 0
    for i = 1, select('#', ...), 2 do
        local score, m = select(i, ...)
        if z[m] == nil then n = n + 1 end
        z[m] = tonumber(score)
    end
    return n
end
C.ZREM = function(key, ...)
    local z = get(key, 'zset')
    if not z then return 0 end
    local n = 0
    for i = 1, select('#', ...) do
        local m = select(i, ...)
        if z[m] then n = n + 1; z[m] = nil end
    end
    return n
end
C.ZSCORE = function(key, m)
    local s = (get(key, 'zset') or {})[m]
    return s and num(s) or false
end
C.ZRANGE = function(key)
    local best, bs
    for m, s in pairs(get(key, 'zset') or {}) do
        if not bs or s < bs then best, bs = m, s end
    end
    return best and {best, num(bs)} or {}
end
C.XADD = function(key, ...)
    local s = make(key, 'stream', new_stream())
    local args, i = {...}, 1
    if args[1] == 'MAXLEN' then i = 4 end
    local ms = math.floor(CLOCK / 1000)
    if ms > s.last_ms then
        s.last_ms, s.last_seq = ms, 0
    else
        s.last_seq = s.last_seq + 1
    end
    local id = string.format('%d-%d', s.last_ms, s.last_seq)
    local f = {}
    for j = i + 1, #args do f[#f + 1] = num(args[j]) end
    s.ids[#s.ids + 1] = id
    s.fields[id] = f
    return id
end
C.XACK = function(key, group, ...)
    local s = get(key, 'stream')
    if not s then return 0 end
    local grp = stream_group(s, group)
    local n = 0
    for i = 1, select('#', ...) do
        local id = select(i, ...)
        if grp.pending[id] then
            grp.pending[id] = nil
            grp.npending = grp.npending - 1
            n = n + 1
        end
    end
    return n
end
C.XDEL = function(key, ...)
    local s = get(key, 'stream')
    if not s then return 0 end
    for i = 1, select('#', ...) do s.fields[(select(i, ...))] = nil end
    return select('#', ...)
end
C.XPENDING = function(key, group)
    local s = get(key, 'stream')
    local grp = s and stream_group(s, group)
    if not grp or grp.npending == 0 then return {} end
    for j = 1, #s.ids do
        if grp.pending[s.ids[j]] then return {{s.ids[j], 'c', 1, 1}} end
    end
    return {}
end
C.XTRIM = function(key, _, _, minid)
    -- drops the ids before minid from the index (entries stay readable
    -- only through their group's pending list, as in Redis after an ack)
    local s = get(key, 'stream')
    if not s then return 0 end
    local keep, n = {}, 0
    for j = 1, #s.ids do
        local id = s.ids[j]
        if id == minid or #keep > 0 then
            keep[#keep + 1] = id
        else
            s.fields[id] = nil
            n = n + 1
        end
    end
    -- the group's cursor is an index into ids
    for _, grp in pairs(s.groups) do
        grp.delivered = math.max(0, grp.delivered - n)
    end
    s.ids = keep
    return n
end
C.XREADGROUP = function(_, group, consumer, _, count, _, key)
    local s = get(key, 'stream')
    if not s then return {err = 'NOGROUP No such key or consumer group'} end
    local grp = stream_group(s, group)
    local out = {}
    count = tonumber(count)
    while #out < count and grp.delivered < #s.ids do
        grp.delivered = grp.delivered + 1
        local id = s.ids[grp.delivered]
        if s.fields[id] then
            grp.pending[id] = consumer
            grp.npending = grp.npending + 1
            out[#out + 1] = {id, s.fields[id]}
        end
    end
    if #out == 0 then return false end
    return {{key, out}}
end

local function run_command(cmd, ...)
    if LOG then LOG[#LOG + 1] = {cmd, ...} end
    local f = C[string.upper(cmd)]
    if not f then error('the emulation has no ' .. cmd) end
    local r = f(...)
    if type(r) == 'table' and r.err then error(r) end
    return r
end

local function rcall(cmd, ...)
    return run_command(cmd, ...)
end

local function rpcall(cmd, ...)
    local ok, r = pcall(run_command, cmd, ...)
    if ok then return r end
    if type(r) == 'table' then return r end
    return {err = tostring(r)}
end

-- ---- Loading the library as Redis 7 does ----------------------------------

local FUNCTIONS = {}
local function register_function(name, fn)
    if type(name) == 'table' then name, fn = name.function_name, name.callback end
    FUNCTIONS[name] = fn
end

local REDIS = {call = rcall, pcall = rpcall, register_function = register_function,
               error_reply = function(m) return {err = m} end,
               status_reply = function(m) return {ok = m} end,
               log = function() end, LOG_WARNING = 3, LOG_NOTICE = 2,
               setresp = function() end}
-- the real globals a Function sees: Lua's base library, string, table,
-- math, cjson and redis (Redis adds bit, struct, cmsgpack: unused here)
local REAL = {}
for _, name in ipairs({'assert', 'error', 'getmetatable', 'ipairs', 'next',
                       'pairs', 'pcall', 'rawequal', 'rawget', 'rawset',
                       'select', 'setmetatable', 'tonumber', 'tostring',
                       'type', 'unpack', 'xpcall', 'string', 'table', 'math'}) do
    REAL[name] = _G[name]
end
REAL.cjson, REAL.redis = cjson, REDIS
local LOADAPI = {redis = {register_function = register_function,
                          log = function() end}}

local src = assert(io.open(path)):read('*a')
src = string.gsub(src, '^#![^\n]*', '--', 1) -- the shebang line
local chunk = assert(loadstring(src, '@' .. path))
local META = {__index = LOADAPI}
local ENV = setmetatable({}, META)
setfenv(chunk, ENV)
chunk()
META.__index = REAL
for _, name in ipairs({'duro_start', 'duro_wft_complete', 'duro_act_complete'}) do
    if not FUNCTIONS[name] then error('the library registers no ' .. name) end
end

-- ---- The bench chain ------------------------------------------------------

local P = 'duro:{p15}:'
local WORKER = 'vm-1-profile'
local OPTS = '{"startToCloseMs":5000}'

local function call(name, keys, args)
    local r = FUNCTIONS[name](keys, args)
    if type(r) == 'table' and r.err then
        error(name .. ': ' .. r.err)
    end
    return r
end

local function keys8(id, run)
    return {P .. 'wf:' .. id, P .. 'h:' .. id .. ':' .. run, P .. 'buf:' .. id,
            P .. 'wft:bench', P .. 'timers', P .. 'pa:' .. id, P .. 'idx:open',
            P .. 'idx:closed'}
end

local function with(keys, ...)
    local t = {}
    for i = 1, #keys do t[i] = keys[i] end
    for i = 1, select('#', ...) do t[#t + 1] = select(i, ...) end
    return t
end

local function scheduled(seq)
    return '{"seq":' .. seq .. ',"name":"noop","taskQueue":"bench","input":' ..
               (seq - 1) .. ',"options":' .. OPTS .. '}'
end

-- the eager entry a commit's reply carries ({..., {{stream, {{id, f}}}}})
local function eager_entry(r)
    local got = r[#r]
    return got[1][2][1][1]
end

-- the five calls of workflow i; STEPS[name] gets each call's time
local CALLS = {'duro_start', 'duro_wft_complete', 'duro_act_complete',
               'duro_act_complete', 'duro_act_complete (closes)'}

local function workflow(i, timed, clock)
    local id, run = 't' .. i, 'R' .. i
    local k = keys8(id, run)
    local act = P .. 'act:bench'
    local started = '{"type":"bench","taskQueue":"bench","input":' ..
                        '{"activities":3},"runId":"' .. run ..
                        '","executionTimeoutMs":0}'
    local t0 = clock()
    call('duro_start', k, {id, run, 'bench', 'bench', '{"activities":3}',
                           started, '0', '10000', 'AllowDuplicate', '',
                           '259200000'})
    local t1 = clock()
    timed[1] = timed[1] + (t1 - t0)
    local entry = DB[k[1]].v.wft_entry
    -- the worker's read of the task (so that the commit's XACK finds it
    -- pending, as in the bench): not one of the calls' commands
    C.XREADGROUP('GROUP', 'duro', WORKER, 'COUNT', 1, 'STREAMS', k[4], '>')
    local now = '{"now":1795826420579}'
    t0 = clock()
    local r = call('duro_wft_complete', with(k, act),
                   {run, '1', entry, now, '1', 'activity', '1', scheduled(1),
                    '9', 'noop', '0', OPTS, '5000', '0', '0', WORKER, '5000',
                    WORKER, '1', '9'})
    t1 = clock()
    timed[2] = timed[2] + (t1 - t0)
    local hlen = r[2]
    for seq = 1, 3 do
        entry = eager_entry(r)
        local done = '{"seq":' .. seq .. ',"attempt":1,"result":' .. (seq - 1) .. '}'
        local args
        if seq < 3 then
            args = {run, tostring(seq), '1', entry, 'completed', done, '-1', '',
                    tostring(hlen), now, '1', 'activity', tostring(seq + 1),
                    scheduled(seq + 1), '10', 'noop', tostring(seq), OPTS,
                    '5000', '0', '0', WORKER, '5000', WORKER, '1', '10'}
            t0 = clock()
            r = call('duro_act_complete', with(k, act, act), args)
        else
            args = {run, '3', '1', entry, 'completed', done, '-1', '',
                    tostring(hlen), now, '1', 'complete',
                    '{"result":{"done":3}}', '{"done":3}', WORKER, '5000'}
            t0 = clock()
            r = call('duro_act_complete', with(k, act), args)
        end
        t1 = clock()
        timed[2 + seq] = timed[2 + seq] + (t1 - t0)
        if r[1] ~= 'eager' then error('act ' .. seq .. ' not eager') end
        hlen = r[3]
    end
    if DB[k[1]].v.status ~= 'COMPLETED' or hlen ~= 12 then
        error('workflow ' .. id .. ' did not complete')
    end
end

-- the commands the calls ran, replayed alone (each call's commands
-- between two markers), to take the emulation's own time out
local function replay(log, timed, clock)
    local step, t0 = 0, nil
    for j = 1, #log do
        local c = log[j]
        if c[1] == '#call' then
            if t0 then timed[step] = timed[step] + (clock() - t0) end
            step = c[2]
            t0 = clock()
        else
            pcall(run_command, unpack(c))
        end
    end
    if t0 then timed[step] = timed[step] + (clock() - t0) end
end

-- ---- Measuring -----------------------------------------------------------

local function zeros() return {0, 0, 0, 0, 0} end
local clock = os.clock

-- warm-up, then N workflows timed
for i = 1, 200 do workflow('w' .. i, zeros(), clock) end
DB = {}
collectgarbage('collect')
local total = zeros()
for i = 1, N do workflow(i, total, clock) end

-- the commands of N workflows, logged (one untimed run), then replayed
DB = {}
LOG = {}
local marks = {}
do
    -- a marker before each call, by wrapping the Functions
    local orig = {}
    for _, name in ipairs({'duro_start', 'duro_wft_complete', 'duro_act_complete'}) do
        orig[name] = FUNCTIONS[name]
    end
    local n = 0
    local function wrap(name)
        return function(keys, args)
            n = n % 5 + 1
            LOG[#LOG + 1] = {'#call', n}
            return orig[name](keys, args)
        end
    end
    for name in pairs(orig) do FUNCTIONS[name] = wrap(name) end
    for i = 1, N do workflow(i, zeros(), clock) end
    for name in pairs(orig) do FUNCTIONS[name] = orig[name] end
    marks = LOG
    LOG = false
end
DB = {}
local cmds = zeros()
replay(marks, cmds, clock)
local ncmd = 0
for j = 1, #marks do if marks[j][1] ~= '#call' then ncmd = ncmd + 1 end end

print(string.format('%d workflows, %d commands (%.1f per workflow), Lua %s',
                    N, ncmd, ncmd / N, _VERSION))
print(string.format('%-28s %9s %9s %9s', 'us per call', 'call', 'commands', 'Lua'))
local sum = {0, 0}
for s = 1, 5 do
    local a, b = total[s] * 1e6 / N, cmds[s] * 1e6 / N
    sum[1], sum[2] = sum[1] + a, sum[2] + b
    print(string.format('%-28s %9.2f %9.2f %9.2f', CALLS[s], a, b, a - b))
end
print(string.format('%-28s %9.2f %9.2f %9.2f', 'one workflow', sum[1], sum[2],
                    sum[1] - sum[2]))

if not PROFILE then return end

-- ---- The profile: every VM instruction of the library, counted ------------

local BYLINE, BYFN, SEEN = {}, {}, 0
local getinfo = debug.getinfo
local lib = '@' .. path
local function hook()
    local info = getinfo(2, 'Sl')
    if info.source ~= lib then return end
    SEEN = SEEN + 1
    local line = info.currentline
    BYLINE[line] = (BYLINE[line] or 0) + 1
    local f = info.linedefined
    BYFN[f] = (BYFN[f] or 0) + 1
end
DB = {}
local NP = math.max(1, math.floor(N / 10))
debug.sethook(hook, '', 1)
for i = 1, NP do workflow(i, zeros(), clock) end
debug.sethook()

-- function names by the line they start at
local NAMES, lines = {}, {}
for l in string.gmatch(src, '([^\n]*)\n') do lines[#lines + 1] = l end
for i, l in ipairs(lines) do
    local name = string.match(l, 'function%s+([%w_%.:]+)%s*%(') or
                     string.match(l, '([%w_%.]+)%s*=%s*function%s*%(')
    if name then NAMES[i] = name end
end

local function top(t, label, fmt)
    local list = {}
    for key, n in pairs(t) do list[#list + 1] = {key, n} end
    table.sort(list, function(a, b) return a[2] > b[2] end)
    print(label)
    for j = 1, math.min(TOP, #list) do
        print(fmt(list[j][1], list[j][2]))
    end
end

print(string.format('\nVM instructions of the library per workflow: %.0f ' ..
                        '(%d workflows counted)', SEEN / NP, NP))
top(BYFN, 'by function (per workflow, % of the library\'s):', function(l, n)
    return string.format('%8.0f %5.1f%%  %s (line %d)', n / NP, 100 * n / SEEN,
                         NAMES[l] or (l == 0 and 'main chunk' or '?'), l)
end)
top(BYLINE, 'by line:', function(l, n)
    return string.format('%8.0f %5.1f%%  %5d  %s', n / NP, 100 * n / SEEN, l,
                         string.gsub(lines[l] or '', '^%s+', ''))
end)
