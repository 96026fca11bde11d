#!/usr/bin/env python3
"""bench/hops/hops.py TRACE.txt PIDS: the median of each hop of the bench's
unloaded latency chain (a start, the first workflow task, three eager
activities, the close), from the syscall tracepoints bench/hops/record.sh
takes. Each workflow is followed from the driver's write of its start:
each step is the next event of its kind on its thread (the driver's main
and subscriber threads, redis-server's main thread, the worker's loop and
pool threads). The worker's command connection, its pool's wake-up
descriptor and Redis's AOF descriptor are told apart by how often each is
used. A step "pool thread awake" that finds a thread already awake (no
futex wait) counts as 0 us."""
import re, sys, statistics
txt, pidf = sys.argv[1], sys.argv[2]
drv, wk, rs = map(int, open(pidf).read().split())
ev = []  # (t, pid, tid, kind, val)
last_fd = {}
rwrites = {}
rx = re.compile(r'^\s*(\d+)/(\d+)\s+([\d.]+):\s+syscalls:sys_(enter|exit)_(\w+):\s*(.*)$')
for line in open(txt):
    m = rx.match(line)
    if not m: continue
    pid, tid, t, ee, call, rest = int(m[1]), int(m[2]), float(m[3]) * 1e6, m[4], m[5], m[6]
    if ee == 'enter':
        fm = re.search(r'fd: (0x[0-9a-f]+)', rest)
        fd = int(fm[1], 16) if fm else None
        if call == 'read': last_fd[tid] = fd; continue
        if call == 'futex':
            op = int(re.search(r'op: (0x[0-9a-f]+)', rest)[1], 16) & 0x7f
            ev.append((t, pid, tid, 'futex_wake' if op == 1 else 'futex_wait', None)); continue
        if tid == rs and call == 'write': rwrites[fd] = rwrites.get(fd, 0) + 1
        ev.append((t, pid, tid, 'send', fd)); continue
    ret = int(rest, 16) if rest.startswith('0x') else int(rest)
    if ret >= 1 << 63: ret -= 1 << 64
    if call == 'read':
        if ret > 0: ev.append((t, pid, tid, 'read', (last_fd.get(tid), ret)))
    elif call == 'futex':
        ev.append((t, pid, tid, 'woke', ret))
ev.sort()
# the worker's command connection: the fd of most of its sends
from collections import Counter
cmdfd = Counter(e[4] for e in ev if e[1] == wk and e[2] == wk and e[3] == 'send').most_common(1)[0][0]
evfd = Counter(e[4][0] for e in ev if e[2] == wk and e[3] == 'read' and e[4][1] == 8).most_common(1)[0][0]
aof = max(rwrites, key=rwrites.get)  # Redis appends to its AOF with write()

def is_(e, who, kind, pred=None):
    pid, tid = e[1], e[2]
    roles = {'drv': pid == drv and tid == drv, 'sub': pid == drv and tid != drv,
             'redis': tid == rs, 'loop': tid == wk, 'pool': pid == wk and tid != wk}
    return roles[who] and e[3] == kind and (pred is None or pred(e[4]))

sock = lambda v: v[0] != evfd
steps = [('start sent', 'drv', 'send', None),
         ('Redis reads the start', 'redis', 'read', None),
         ('worker reads the task', 'loop', 'read', sock),
         ('commit sent', 'loop', 'send', lambda fd: fd == cmdfd),
         ('Redis reads the commit', 'redis', 'read', None),
         ('Redis writes the reply', 'redis', 'send', lambda fd: fd != aof),
         ('worker reads it (activity 1)', 'loop', 'read', sock)]
for k in (1, 2, 3):
    steps += [('a%d: pool thread awake' % k, 'pool', 'woke', None),
              ('a%d: result posted (eventfd)' % k, 'pool', 'send', None),
              ('a%d: loop has it' % k, 'loop', 'read', lambda v: v[0] == evfd),
              ('a%d: completion sent' % k, 'loop', 'send', lambda fd: fd == cmdfd),
              ('a%d: Redis reads it' % k, 'redis', 'read', None),
              ('a%d: Redis writes the reply' % k, 'redis', 'send', lambda fd: fd != aof)]
    if k < 3: steps += [('a%d: worker reads the reply' % k, 'loop', 'read', sock)]
steps += [('driver reads the close', 'sub', 'read', None)]
hops = [[] for _ in steps]
skipped = [0] * len(steps)
i, n = 0, 0
while i < len(ev):
    if not is_(ev[i], 'drv', 'send'): i += 1; continue
    ts, j, ok = [ev[i][0]], i + 1, True
    for name, who, kind, pred in steps[1:]:
        j0 = j
        while j < len(ev) and not is_(ev[j], who, kind, pred):
            if is_(ev[j], 'drv', 'send'): ok = False; break
            if kind == 'woke' and is_(ev[j], 'pool', 'send'): break
            j += 1
        if kind == 'woke' and ok and j < len(ev) and not is_(ev[j], who, kind):
            ts.append(None); j = j0; continue  # a pool thread was awake
        if not ok or j >= len(ev): ok = False; break
        ts.append(ev[j][0]); j += 1
    if ok:
        n += 1
        for s in range(1, len(steps)):
            if ts[s] is None: ts[s] = ts[s - 1]; skipped[s] += 1
            hops[s].append(ts[s] - ts[s - 1])
        hops[0].append(ts[-1] - ts[0])
    i = j if ok else i + 1
print('workflows followed: %d' % n)
print('%-36s %8s' % ('hop (what ends it)', 'p50 us'))
for s in range(1, len(steps)):
    print('%-36s %8.0f%s' % ('-> ' + steps[s][0], statistics.median(hops[s]),
          ' (awake already in %d)' % skipped[s] if skipped[s] else ''))
print('%-36s %8.0f' % ('start -> close (traced)', statistics.median(hops[0])))
