#!/usr/bin/env python3
"""bench/lua/fcall_count.py: the instructions a real redis-server spends
inside the hot Functions, per call, counted by callgrind (deterministic:
two runs of the same code agree within 0.1%). Run by scripts/lua-profile
--redis (docs/benchmarks.md, "Profiling the Lua alone").

It starts a private redis-server (AOF on, as the bench) under
`valgrind --tool=callgrind --toggle-collect=fcallCommand`, loads the
library from DURO_LUA, and runs the bench chain's calls for N workflows
(the FCALLs of TRACE: duro_start, the first task's duro_wft_complete, three
eager duro_act_complete, the last closing the run), one phase per call
kind, dumping callgrind's counters after each phase, then prints the
instructions per call of each phase and per workflow, and the memory
per workflow (INFO used_memory, and used_memory_dataset, after the last
phase minus before the first).

$DURO_REDIS_ARGS: extra redis-server arguments, split on blanks (e.g.
DURO_REDIS_ARGS="--stream-node-max-entries 16"), to measure a setting.

usage: fcall_count.py DURO_LUA [N]   (needs redis-server and valgrind)
"""
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def resp(*args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port))
        self.f = self.s.makefile('rb')

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b'+':
            return rest.decode()
        if t == b'-':
            raise RuntimeError(rest.decode())
        if t == b':':
            return int(rest)
        if t == b'$':
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b'*':
            n = int(rest)
            if n < 0:
                return None
            return [self.read() for _ in range(n)]
        raise RuntimeError('bad reply %r' % line)

    def call(self, *args):
        self.s.sendall(resp(*args))
        return self.read()


P = 'duro:{p15}:'
WORKER = 'vm-1-profile'
OPTS = '{"startToCloseMs":5000}'


def keys8(i):
    run = 'R%d' % i
    return [P + 'wf:t%d' % i, P + 'h:t%d:%s' % (i, run), P + 'buf:t%d' % i,
            P + 'wft:bench', P + 'timers', P + 'pa:t%d' % i, P + 'idx:open',
            P + 'idx:closed']


def scheduled(seq):
    return ('{"seq":%d,"name":"noop","taskQueue":"bench","input":%d,'
            '"options":%s}' % (seq, seq - 1, OPTS))


def used_memory(c):
    """INFO's (used_memory, used_memory_dataset): the second leaves out
    the client and AOF buffers, whose size at the moment of reading is
    noise of a few hundred bytes per workflow at N=200."""
    info = dict(line.split(':', 1) for line in
                c.call('INFO', 'memory').splitlines() if ':' in line)
    return int(info['used_memory']), int(info['used_memory_dataset'])


def fcall(c, name, keys, args):
    return c.call('FCALL', name, len(keys), *keys, *args)


def taken(r, flat, seq, lease):
    """(entry id, history length) of a commit's reply ({last, hlen, ...} or
    {'eager', last, hlen, ...}) that took one activity task, checked to be
    activity seq's: spliced flat after hlen from library 34 (stream, 1, id,
    {fields}), else its last element, XREADGROUP-shaped; lease: the
    entry is a lease (library 35)."""
    at = 2 if r[0] == 'eager' else 1
    if flat:
        if len(r) != at + 5 or r[at + 2] != 1:
            raise RuntimeError('flat eager reply %r' % (r,))
        eid, fv = r[at + 3], r[at + 4]
    else:
        eid, fv = r[-1][0][1][0][0], r[-1][0][1][0][1]
    fields = dict(zip(fv[0::2], fv[1::2]))
    if fields.get('seq') != str(seq):
        raise RuntimeError('took %r, not seq %d' % (fields, seq))
    if lease and not eid.startswith('L'):
        raise RuntimeError('took entry %r, not a lease' % (eid,))
    return eid, r[at]


def main():
    lua = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    tmp = tempfile.mkdtemp(prefix='duro-fcall-count.')
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    out = os.path.join(tmp, 'cg.out')
    proc = subprocess.Popen(
        ['valgrind', '--tool=callgrind', '--toggle-collect=fcallCommand',
         '--callgrind-out-file=' + out, 'redis-server', '--port', str(port),
         '--bind', '127.0.0.1', '--dir', tmp, '--appendonly', 'yes',
         '--appendfsync', 'everysec', '--save', ''] +
        os.environ.get('DURO_REDIS_ARGS', '').split(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                c = Conn(port)
                c.call('PING')
                break
            except (OSError, RuntimeError):
                time.sleep(0.1)
        with open(lua) as f:
            c.call('FUNCTION', 'LOAD', 'REPLACE', f.read())
        # a negative count asks for the flat eager reply (library 34 on),
        # L<n> for leases (library 35 on: no stream entry, a lease id)
        version = c.call('FCALL', 'duro_version', '0')
        flat = version >= 34
        room = 'L1' if version >= 35 else '-1' if flat else '1'
        act = P + 'act:bench'
        for stream in (P + 'wft:bench', act):
            c.call('XGROUP', 'CREATE', stream, 'duro', '$', 'MKSTREAM')
        phases = ['duro_start', 'duro_wft_complete',
                  'duro_act_complete (1)', 'duro_act_complete (2)',
                  'duro_act_complete (closes)']
        state = {}

        def dump():
            subprocess.run(['callgrind_control', '-d', str(proc.pid)],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
            c.call('PING')  # wakes it to write the dump

        dump()
        mem0 = used_memory(c)
        for i in range(1, n + 1):
            k = keys8(i)
            run = 'R%d' % i
            started = ('{"type":"bench","taskQueue":"bench","input":'
                       '{"activities":3},"runId":"%s",'
                       '"executionTimeoutMs":0}' % run)
            fcall(c, 'duro_start', k,
                  ['t%d' % i, run, 'bench', 'bench', '{"activities":3}',
                   started, '0', '10000', 'AllowDuplicate', '', '259200000'])
            r = c.call('XREADGROUP', 'GROUP', 'duro', WORKER, 'COUNT', '1',
                       'STREAMS', k[3], '>')
            state[i] = {'entry': r[0][1][0][0]}
        dump()
        now = '{"now":1795826420579}'
        for i in range(1, n + 1):
            k = keys8(i)
            r = fcall(c, 'duro_wft_complete', k + [act],
                      ['R%d' % i, '1', state[i]['entry'], now, '1',
                       'activity', '1', scheduled(1), '9', 'noop', '0', OPTS,
                       '5000', '0', '0', WORKER, '5000', WORKER, room, '9'])
            state[i] = {'r': r}
        dump()
        for seq in (1, 2, 3):
            for i in range(1, n + 1):
                k = keys8(i)
                r = state[i]['r']
                entry, hlen = taken(r, flat, seq, room.startswith('L'))
                done = '{"seq":%d,"attempt":1,"result":%d}' % (seq, seq - 1)
                base = ['R%d' % i, str(seq), '1', entry, 'completed', done,
                        '-1', '', str(hlen), now, '1']
                if seq < 3:
                    r = fcall(c, 'duro_act_complete', k + [act, act],
                              base + ['activity', str(seq + 1),
                                      scheduled(seq + 1), '10', 'noop',
                                      str(seq), OPTS, '5000', '0', '0',
                                      WORKER, '5000', WORKER, room, '10'])
                else:
                    r = fcall(c, 'duro_act_complete', k + [act],
                              base + ['complete', '{"result":{"done":3}}',
                                      '{"done":3}', WORKER, '5000'])
                if r[0] != 'eager':
                    raise RuntimeError('act %d of t%d not eager: %r' %
                                       (seq, i, r))
                state[i] = {'r': r}
            dump()
        for i in range(1, n + 1):
            st = c.call('HGET', P + 'wf:t%d' % i, 'status')
            if st != 'COMPLETED':
                raise RuntimeError('t%d is %s' % (i, st))
        mem = [a - b for a, b in zip(used_memory(c), mem0)]
    finally:
        proc.terminate()
        proc.wait()
    # dumps: cg.out.1 (before the first phase), .2 .. .6 (after each)
    dumps = sorted(glob.glob(out + '.*'),
                   key=lambda p: int(p.rsplit('.', 1)[1]))
    totals = []
    for p in dumps:
        with open(p) as f:
            for line in f:
                if line.startswith('summary:') or line.startswith('totals:'):
                    totals.append(int(line.split()[1]))
                    break
    if len(totals) < 6:
        raise RuntimeError('expected 6 dumps, got %d in %s' % (len(totals),
                                                                tmp))
    print('%d workflows, instructions inside FCALL (callgrind), '
          'thousands per call:' % n)
    whole = 0
    for j, name in enumerate(phases):
        per = totals[j + 1] / n
        whole += per
        print('  %-28s %8.1f' % (name, per / 1000))
    print('  %-28s %8.1f' % ('one workflow', whole / 1000))
    print('  %-28s %8.0f bytes (dataset %.0f)' % ('memory per workflow',
                                                  mem[0] / n, mem[1] / n))
    if os.environ.get('DURO_REDIS_ARGS'):
        print('  (redis-server %s)' % os.environ['DURO_REDIS_ARGS'])
    if os.environ.get("DURO_KEEP"):
        print("  (callgrind dumps kept in %s)" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
