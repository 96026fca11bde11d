#!/usr/bin/env python3
"""bench/lua/floor/pa_in_wf.py [DURO_LUA]: prints a copy of duro.lua (library
46) with a pending activity's two records kept as fields of the workflow
hash (`a<seq>`, `a<seq>.s`) instead of the `pa` hash: written by the call's
own HSET of the workflow hash, read by the completion's HMGET, deleted by an
HDEL of the workflow hash, no `pa` probe. A measuring device for the bench
chain's path (docs/benchmarks.md, "The pending-activity record in the
workflow hash, measured"), not a design: other paths still use `pa`. It
edits exact texts of the library and stops when one has changed.

  python3 bench/lua/floor/pa_in_wf.py > /tmp/pa_in_wf.lua
  DURO_LUA=/tmp/pa_in_wf.lua scripts/lua-profile --redis 200
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    HERE, '..', '..', '..', 'common', 'lua', 'duro.lua')
s = open(src).read()


def rep(old, new):
    global s
    if s.count(old) != 1:
        sys.exit('pa_in_wf.py: the library changed (%d copies of %r)' %
                 (s.count(old), old[:60]))
    s = s.replace(old, new)


# a commit's activity no longer writes pa: no probe of it
rep("    pa = {'pa'}, pa_timers = {'pa', 'timers'},",
    "    pa = {}, pa_timers = {'timers'},")
# the records' names: fields of the workflow hash
rep("        t = {seq, seq .. '.s', shared = true}",
    "        t = {'a' .. seq, 'a' .. seq .. '.s', shared = true}")
# schedule_activity: written with the call's HSET of the workflow hash
rep("""    redis.call('HSET', w.k.pa, c.seq,
               '1,' .. entry .. ',' .. (stc2 > 0 and str(w.now + stc2) or '0') ..
                   ',,' .. str(#q) .. ',0;' .. q, c.seq .. '.s',
               pa_sched_enc(c.name, c.opts, c.input, c.stc, c.hbt, now_str(w)))""",
    """    w.dirty['a' .. c.seq] = '1,' .. entry .. ',' ..
        (stc2 > 0 and str(w.now + stc2) or '0') .. ',,' .. str(#q) .. ',0;' .. q
    w.dirty['a' .. c.seq .. '.s'] =
        pa_sched_enc(c.name, c.opts, c.input, c.stc, c.hbt, now_str(w))""")
# resolved: deleted from the workflow hash (a closed run's too)
rep("""            if w.status == 'RUNNING' then
                redis.call('HDEL', w.k.pa, unpack(drop))
            end""", """            redis.call('HDEL', w.k.wf, unpack(drop))""")
# the completion's HMGET also reads its activity's state record
rep("""local function load_wf(k, now, hot)
    hot = hot or #WF_FIELDS
    local v = read('hash', 'HMGET', k.wf, unpack(WF_FIELDS, 1, hot))""",
    """WF_FIELDS.proto_f = {}
local function load_wf(k, now, hot)
    hot = hot or #WF_FIELDS
    local v
    local seq = WF_FIELDS.proto_seq
    if seq then
        local f = WF_FIELDS.proto_f
        for i = 1, hot do f[i] = WF_FIELDS[i] end
        f[hot + 1] = 'a' .. seq
        v = read('hash', 'HMGET', k.wf, unpack(f, 1, hot + 1))
    else
        v = read('hash', 'HMGET', k.wf, unpack(WF_FIELDS, 1, hot))
    end""")
rep("""    if w.rest then setmetatable(w, WF_FIELDS.meta) end""",
    """    if seq then
        w.pa_pre, w.pa_seq = v[hot + 1], seq
        WF_FIELDS.proto_seq = nil
    end
    if w.rest then setmetatable(w, WF_FIELDS.meta) end""")
rep("""        local rec = read('hash', 'HGET', w.k.pa, seq)""",
    """        local rec
        if rawget(w, 'pa_seq') == seq then
            rec = w.pa_pre
        else
            rec = redis.call('HGET', w.k.wf, 'a' .. seq)
        end""")
rep("""    local w = load_wf(k, nil, WF_FIELDS.hot_of(
""", """    WF_FIELDS.proto_seq = args[2]
    local w = load_wf(k, nil, WF_FIELDS.hot_of(
""")
sys.stdout.write(s)
