#!/usr/bin/env python3
"""bench/lua/floor.py: what one Redis Function call per state change costs
at best on this redis-server, in instructions counted by callgrind
(deterministic: two runs agree within 0.5%). docs/benchmarks.md, "The floor
of one Function per step", holds its figures and what they mean.

usage: bench/lua/floor.py [--chain] [--whole] [--variants duro,a,...]
                         [DURO_LUA] [N]     (needs redis-server, valgrind)
  --chain: part 3 only; --whole: the whole-server run only; N: calls per
  figure (200).

Every figure is measured twice, on two private redis-servers (127.0.0.1, a
free port, AOF on as in the bench) run one after the other under callgrind:
once with `--toggle-collect=fcallCommand` (instructions inside FCALL, the
figure of bench/lua/fcall_count.py) and once for the WHOLE server (the
query read and parsed, the reply written, the AOF fed, the event loop: all
in user space; the kernel's share of a read or write is not counted;
serverCron, which runs by the clock, taken out). A phase of N identical calls is bracketed by `callgrind_control -d` and
divided by N. Three parts:

 1. the fixed cost of an FCALL: a Function that returns at once, by its
    number of KEYS and ARGV, and duro.lua's `txn` wrapper around such a
    Function (a copy of the library with two extra registrations);
 2. one redis.call by command and reply shape (bench/lua/floor/calls.lua):
    a Function running one command minus the same Function shape that
    returns at once, and the same command sent by a client;
 3. the bench chain's five calls per workflow (start, the first task's
    completion, three eager activity completions, the last closing the
    run) by the real library and by four lean variants
    (bench/lua/floor/lean_[abcd].lua; each file says what it drops), and
    (d'): (d)'s visibility lines read out by a client (an indexer outside
    Redis) instead of its drain Function.
BullMQ's chain on the same terms: bench/lua/floor_bullmq.mjs.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fcall_count import Conn, OPTS, WORKER, resp, scheduled  # noqa: E402

FLOOR = os.path.join(HERE, 'floor')
DEADLINE = time.monotonic() + float(os.environ.get('FLOOR_TIME_LIMIT', 1800))


def check_time():
    if time.monotonic() > DEADLINE:
        raise RuntimeError('over FLOOR_TIME_LIMIT; stopping')


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """A private redis-server under callgrind; dump() returns the
    instructions counted since the last dump."""

    def __init__(self, whole):
        self.tmp = tempfile.mkdtemp(prefix='duro-floor.')
        self.out = os.path.join(self.tmp, 'cg.out')
        self.port = free_port()
        self.ndump = 0
        self.whole, self.cron = whole, 0
        cmd = ['valgrind', '--tool=callgrind',
               '--callgrind-out-file=' + self.out]
        if not whole:
            cmd.append('--toggle-collect=fcallCommand')
        cmd += ['redis-server', '--port', str(self.port), '--bind',
                '127.0.0.1', '--dir', self.tmp, '--appendonly', 'yes',
                '--appendfsync', 'everysec', '--save', '']
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(600):
            try:
                self.c = Conn(self.port)
                self.c.s.settimeout(300)
                self.c.call('PING')
                break
            except (OSError, RuntimeError):
                if self.proc.poll() is not None:
                    raise RuntimeError('redis-server under valgrind exited')
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError('redis-server did not answer in 60 s')

    def dump(self):
        check_time()
        self.ndump += 1
        subprocess.run(['callgrind_control', '-d', str(self.proc.pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False, timeout=60)
        self.c.call('PING')  # wakes it to write the dump
        path = '%s.%d' % (self.out, self.ndump)
        for _ in range(600):
            if os.path.exists(path):
                with open(path) as f:
                    for line in f:
                        if line.startswith(('summary:', 'totals:')):
                            total = int(line.split()[1])
                            return total - self.cron_of(path)
            time.sleep(0.1)
        raise RuntimeError('no callgrind dump %s in 60 s' % path)

    def cron_of(self, path):
        """serverCron's inclusive instructions in a whole-server dump: the
        housekeeping Redis runs by the clock (10 times a second), mostly
        jemalloc's statistics refreshed by cronUpdateMemoryStats, ~1.8M
        instructions a second idle. Under valgrind a phase lasts ~50 times
        longer than at full speed, so it would add tens of thousands of
        instructions per call that a server at full speed spreads over
        hundreds of calls: taken out of every whole-server figure, and
        summed in self.cron."""
        if not self.whole:
            return 0
        r = subprocess.run(['callgrind_annotate', '--inclusive=yes',
                            '--threshold=100', path], capture_output=True,
                           text=True, check=False, timeout=120)
        for line in r.stdout.splitlines():
            if ':serverCron ' in line:
                cron = int(line.split()[0].replace(',', ''))
                self.cron += cron
                return cron
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.environ.get('DURO_KEEP'):
            print('  (callgrind dumps kept in %s)' % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def pipe(c, cmds):
    """Sends cmds (lists of arguments) in one write, reads every reply."""
    for i in range(0, len(cmds), 500):
        part = cmds[i:i + 500]
        c.s.sendall(b''.join(resp(*a) for a in part))
        for _ in part:
            c.read()


def measure(srv, n, run):
    """Instructions per call of run() (n calls), from a fresh counter."""
    srv.dump()
    run()
    return srv.dump() / n


def load(c, path, text=None):
    if text is None:
        with open(path) as f:
            text = f.read()
    c.call('FUNCTION', 'LOAD', 'REPLACE', text)


# ---- part 1: the fixed cost of an FCALL ----

def keys10(p, i):
    run = 'R%d' % i
    return [p + 'wf:t%d' % i, p + 'h:t%d:%s' % (i, run), p + 'buf:t%d' % i,
            p + 'wft:bench', p + 'timers', p + 'pa:t%d' % i, p + 'idx:open',
            p + 'idx:closed', p + 'act:bench', p + 'act:bench']


def act_args(i, seq, entry, hlen):
    """duro_act_complete's ARGV for an eager completion (25)."""
    done = '{"seq":%d,"attempt":1,"result":%d}' % (seq, seq - 1)
    return (['R%d' % i, str(seq), '1', entry, 'completed', done, '-1', '',
             str(hlen), '{"now":1795826420579}', '1', 'activity',
             str(seq + 1), scheduled(seq + 1), '10', 'noop', str(seq), OPTS,
             '5000', '0', '0', WORKER, '5000', WORKER, '-1', '10'])


def txn_library(duro_lua):
    """duro.lua with two no-op Functions under txn's key contracts of
    duro_act_complete and duro_wft_complete (the file ends at the chunk's
    top level, where txn and the contracts are in scope)."""
    with open(duro_lua) as f:
        text = f.read()
    return text + '''
redis.register_function('floor_txn_act', txn(function() return 1 end, {
    keys = ACT_COMPLETE_KEYS}))
redis.register_function('floor_txn_wft', txn(function() return 1 end, {
    keys = WFT_COMPLETE_KEYS, rest = 'stream'}))
'''


def part1(srv, n, duro_lua):
    c = srv.c
    load(c, None, txn_library(duro_lua))
    load(c, os.path.join(FLOOR, 'calls.lua'))
    p = 'duro:{f1}:'
    k10, a25 = keys10(p, 1), act_args(1, 1, '1795826420579-0', 3)
    a45 = a25 + a25[:20]
    k9, a20 = k10[:9], a25[:20]
    c.call('XGROUP', 'CREATE', p + 'act:bench', 'duro', '$', 'MKSTREAM')
    rows = []

    def fc(name, keys, args):
        return lambda: [c.call('FCALL', name, len(keys), *keys, *args)
                        for _ in range(n)]

    rows.append(('FCALL no-op, 0 KEYS 0 ARGV', measure(srv, n, fc(
        'floor_nop', [], []))))
    rows.append(('FCALL no-op, 10 KEYS 25 ARGV (act_complete\'s)',
                 measure(srv, n, fc('floor_nop', k10, a25))))
    rows.append(('FCALL no-op, 10 KEYS 45 ARGV', measure(srv, n, fc(
        'floor_nop', k10, a45))))
    rows.append(('FCALL no-op, 9 KEYS 20 ARGV (wft_complete\'s)',
                 measure(srv, n, fc('floor_nop', k9, a20))))
    rows.append(('txn(no-op), act_complete\'s contract, 10/25',
                 measure(srv, n, fc('floor_txn_act', k10, a25))))
    rows.append(('txn(no-op), wft_complete\'s contract, 9/20 (TYPE act)',
                 measure(srv, n, fc('floor_txn_wft', k9, a20))))
    rows.append(('duro_version (the library\'s own), 0/0',
                 measure(srv, n, fc('duro_version', [], []))))
    rows.append(('PING sent by a client (no FCALL)', measure(
        srv, n, lambda: [c.call('PING') for _ in range(n)])))
    return rows


# ---- part 2: one redis.call by command ----

WF_FIELDS = [
    ('run', 'R1'), ('status', 'RUNNING'), ('hlen', '3'), ('token', '1'),
    ('wft', '0'), ('wft_entry', ''), ('queue', 'bench'), ('wft_attempt', '1'),
    ('wft_timeout', '10000'), ('exec_timeout', '0'), ('bufn', '0'),
    ('sticky', WORKER), ('sticky_ms', '5000'), ('wft_sticky', ''),
    ('run_timeout', '0'), ('opt', '0'), ('start_ms', '1795826420578'),
    ('type', 'bench'), ('input', '{"activities":3}'), ('result', ''),
    ('failure', ''), ('close_ms', ''), ('wft_error', ''),
    ('cancel_requested', '0')]
F17 = [f for f, _ in WF_FIELDS[:17]]
ENTRY8 = ['id', 't1', 'run', 'R1', 'seq', '1', 'attempt', '1', 'name', 'noop',
          'input', '0', 'opts', OPTS, 'wfqueue', 'bench']
EVENT = 'AS\n1795826420579\n' + scheduled(1)


def flat(pairs):
    return [x for kv in pairs for x in kv]


def setup_hash(c, keys):
    pipe(c, [['HSET', k] + flat(WF_FIELDS) for k in keys])


def setup_list(c, keys):
    pipe(c, [['RPUSH', k, EVENT] for k in keys])


def setup_stream(c, keys, before):
    """Each key: `before` entries read and acked, then one to read."""
    cmds = []
    for k in keys:
        cmds += [['XADD', k, '*'] + ENTRY8 for _ in range(before + 1)]
        cmds.append(['XGROUP', 'CREATE', k, 'duro', '0'])
    pipe(c, cmds)
    if before:
        for k in keys:
            r = c.call('XREADGROUP', 'GROUP', 'duro', 'w', 'COUNT',
                       str(before), 'STREAMS', k, '>')
            c.call('XACK', k, 'duro', *[e[0] for e in r[0][1]])


def setup_pending(c, keys):
    """Each key: one entry delivered, not acked; its id."""
    setup_stream(c, keys, 0)
    ids = []
    for k in keys:
        r = c.call('XREADGROUP', 'GROUP', 'duro', 'w', 'COUNT', '1',
                   'STREAMS', k, '>')
        ids.append(r[0][1][0][0])
    return ids


def setup_zset(c, key):
    pipe(c, [['ZADD', key] + flat((str(1795826400000 + j), 'M%d' % (
        j + 100 * b)) for j in range(100)) for b in range(10)])


def commands(n):
    """(label, setup(c, tag) -> per-call argument lists (command, key
    or None, args...)) of part 2."""
    def per_key(prefix, setup, args):
        def make(c, tag):
            keys = ['duro:{f2}:%s:%s:%d' % (prefix, tag, i)
                    for i in range(n)]
            extra = setup(c, keys) if setup else None
            return [args(k, extra[i] if extra else None, i)
                    for i, k in enumerate(keys)]
        return make

    def shared(prefix, setup, args):
        def make(c, tag):
            key = 'duro:{f2}:%s:%s' % (prefix, tag)
            if setup:
                setup(c, key)
            return [args(key, None, i) for i in range(n)]
        return make

    return [
        ('TIME', lambda c, tag: [['TIME', None]] * n),
        ('HGET of 1 field (24-field hash)', per_key(
            'h', setup_hash, lambda k, _, i: ['HGET', k, 'status'])),
        ('HMGET of 17 fields (24-field hash)', per_key(
            'h', setup_hash, lambda k, _, i: ['HMGET', k] + F17)),
        ('HSET of 6 pairs (24-field hash)', per_key(
            'h', setup_hash, lambda k, _, i: [
                'HSET', k, 'wft_entry', '', 'wft_error', '', 'hlen', '3',
                'sticky', WORKER, 'wft', '0', 'sticky_ms', '5000'])),
        ('RPUSH of 3 events', per_key(
            'l', setup_list, lambda k, _, i: ['RPUSH', k, EVENT, EVENT,
                                              EVENT])),
        ('XADD of 8 pairs (one stream)', shared(
            'x', None, lambda k, _, i: ['XADD', k, '*'] + ENTRY8)),
        ('XREADGROUP COUNT 1, node empty before', per_key(
            'xe', lambda c, ks: setup_stream(c, ks, 0),
            lambda k, _, i: ['XREADGROUP', 'GROUP', 'duro', WORKER, 'COUNT',
                             '1', 'STREAMS', k, '>'])),
        ('XREADGROUP COUNT 1, 50 acked before', per_key(
            'xf', lambda c, ks: setup_stream(c, ks, 50),
            lambda k, _, i: ['XREADGROUP', 'GROUP', 'duro', WORKER, 'COUNT',
                             '1', 'STREAMS', k, '>'])),
        ('XACK of 1 id', per_key(
            'xa', setup_pending, lambda k, eid, i: ['XACK', k, 'duro', eid])),
        ('ZADD of 1 member (1000-member zset)', shared(
            'z', setup_zset, lambda k, _, i: [
                'ZADD', k, str(1795826420578 + i), 'R%d' % i])),
        ('LLEN', per_key('l', setup_list, lambda k, _, i: ['LLEN', k])),
        ('TYPE', per_key('h', setup_hash, lambda k, _, i: ['TYPE', k])),
    ]


def part2(srv, n):
    c = srv.c
    load(c, os.path.join(FLOOR, 'calls.lua'))
    rows = []
    ping = measure(srv, n, lambda: [c.call('PING') for _ in range(n)])
    for j, (label, make) in enumerate(commands(n)):
        check_time()
        fn_calls = make(c, 'f%d' % j)
        cl_calls = make(c, 'c%d' % j)

        def as_fcall(a, nop):
            cmd, key, rest = a[0], a[1], a[2:]
            if key is None:
                return ['FCALL', 'floor_nop' if nop else 'floor_cmd0', '0',
                        cmd] + rest
            return ['FCALL', 'floor_nop' if nop else 'floor_cmd', '1', key,
                    cmd] + rest

        nop = measure(srv, n, lambda: [c.call(*as_fcall(a, True))
                                       for a in fn_calls])
        fn = measure(srv, n, lambda: [c.call(*as_fcall(a, False))
                                      for a in fn_calls])
        cl = measure(srv, n, lambda: [c.call(*[x for x in a if x is not None])
                                      for a in cl_calls])
        rows.append((label, fn - nop, cl, cl - ping))
    return rows


# ---- part 3: the bench chain, per workflow ----

def keys8(p, i):
    return keys10(p, i)[:8]


def start_args(i):
    run = 'R%d' % i
    started = ('{"type":"bench","taskQueue":"bench","input":'
               '{"activities":3},"runId":"%s","executionTimeoutMs":0}' % run)
    return ['t%d' % i, run, 'bench', 'bench', '{"activities":3}', started,
            '0', '10000', 'AllowDuplicate', '', '259200000']


def wft_args(i, entry):
    return ['R%d' % i, '1', entry, '{"now":1795826420579}', '1', 'activity',
            '1', scheduled(1), '9', 'noop', '0', OPTS, '5000', '0', '0',
            WORKER, '5000', WORKER, '-1', '9']


def close_args(i, entry, hlen):
    done = '{"seq":3,"attempt":1,"result":2}'
    return ['R%d' % i, '3', '1', entry, 'completed', done, '-1', '',
            str(hlen), '{"now":1795826420579}', '1', 'complete',
            '{"result":{"done":3}}', '{"done":3}', WORKER, '5000']


def taken(variant, r, seq):
    """(entry id, hlen) of an eager reply, checked to hold activity seq."""
    if variant == 'duro':  # library 34: [eager,] last, hlen, stream, 1,
        at = 2 if r[0] == 'eager' else 1  # id, fields
        if len(r) != at + 5 or r[at + 2] != 1:
            raise RuntimeError('not an eager reply: %r' % (r,))
        eid, fv, hlen = r[at + 3], r[at + 4], r[at]
    elif r[0] != 'eager':
        raise RuntimeError('not eager: %r' % (r,))
    elif variant == 'a':
        eid, fv, hlen = r[2], r[3], r[1]
    else:  # leased: the task itself (seq, attempt, name, input, opts)
        if r[2][0] != str(seq):
            raise RuntimeError('leased %r, not seq %d' % (r[2], seq))
        return '-', r[1]
    fields = dict(zip(fv[0::2], fv[1::2]))
    if fields.get('seq') != str(seq):
        raise RuntimeError('took %r, not seq %d' % (fields, seq))
    return eid, hlen


CHAIN = ['start (+ the worker\'s XREADGROUP)', 'wft_complete',
         'act_complete (1)', 'act_complete (2)', 'act_complete (closes)']


def chain(srv, n, variant, duro_lua):
    """Instructions per call of each of the chain's phases (and the
    visibility drain of (d)), for n workflows."""
    c = srv.c
    # the eager count: leases (`L1`) from library 35 on, as a worker asks;
    # the flat stream-entry reply (-1) before (library 34) and for the
    # lean variants, which read either
    eager = '-1'
    if variant == 'duro':
        load(c, duro_lua)
        fn = {'start': 'duro_start', 'wft': 'duro_wft_complete',
              'act': 'duro_act_complete'}
        if c.call('FCALL', 'duro_version', '0') >= 35:
            eager = 'L1'
    else:
        lib = 'd' if variant == 'e' else variant
        load(c, os.path.join(FLOOR, 'lean_%s.lua' % lib))
        fn = {k: 'floor_%s_%s' % (lib, k) for k in ('start', 'wft', 'act')}
    p = 'duro:{v%s}:' % variant
    for stream in (p + 'wft:bench', p + 'act:bench'):
        c.call('XGROUP', 'CREATE', stream, 'duro', '$', 'MKSTREAM')
    state = {}

    def fcall(name, keys, args):
        return c.call('FCALL', name, len(keys), *keys, *args)

    def start():
        for i in range(1, n + 1):
            k = keys8(p, i)
            fcall(fn['start'], k, start_args(i))
            r = c.call('XREADGROUP', 'GROUP', 'duro', WORKER, 'COUNT', '1',
                       'STREAMS', k[3], '>')
            state[i] = r[0][1][0][0]

    def wft():
        for i in range(1, n + 1):
            a = wft_args(i, state[i])
            a[-2] = eager
            r = fcall(fn['wft'], keys10(p, i)[:9], a)
            state[i] = taken(variant, r, 1)

    def act(seq):
        def run():
            for i in range(1, n + 1):
                entry, hlen = state[i]
                k = keys10(p, i)
                if seq < 3:
                    a = act_args(i, seq, entry, hlen)
                    a[-2] = eager
                    state[i] = taken(variant, fcall(fn['act'], k, a), seq + 1)
                else:
                    r = fcall(fn['act'], k[:9], close_args(i, entry, hlen))
                    if r[0] not in ('eager', 'closed'):
                        raise RuntimeError('close of t%d: %r' % (i, r))
        return run

    before = commands_run(c)
    out = [measure(srv, n, f) for f in (start, wft, act(1), act(2), act(3))]
    ncmd = (commands_run(c) - before) / n
    if variant == 'd':
        def drain():
            while fcall('floor_d_drain', [p + 'visq'], ['100']):
                pass
        out.append(measure(srv, n, drain))
    elif variant == 'e':
        def drain():
            while c.call('LPOP', p + 'visq', '100'):
                pass
        out.append(measure(srv, n, drain))
    for i in (1, n):
        k = keys8(p, i)
        if variant in ('c', 'd', 'e'):
            st = c.call('HGET', k[0], 's').split('|')[1]
        else:
            st = c.call('HGET', k[0], 'status')
        hl = c.call('LLEN', k[1])
        if variant == 'e':  # the rows are the indexer's, outside Redis
            vis = 'COMPLETED' if c.call('LLEN', p + 'visq') == 0 else None
        else:
            vis = c.call('HGET', p + 'vis:R%d' % i, 'status')
        if st != 'COMPLETED' or hl != 12 or vis != 'COMPLETED':
            raise RuntimeError('%s: t%d is %s, history %s, visibility %s' %
                               (variant, i, st, hl, vis))
    return out, ncmd


def commands_run(c):
    """Commands the server ran (INFO commandstats, Functions' redis.calls
    included), but PING (the dumps') and INFO."""
    total = 0
    for line in c.call('INFO', 'commandstats').splitlines():
        if line.startswith('cmdstat_') and not line.startswith(
                ('cmdstat_ping:', 'cmdstat_info:')):
            total += int(line.split('calls=')[1].split(',')[0])
    return total


VARIANTS = [
    ('duro', 'duro.lua today'),
    ('a', '(a) same commands, least Lua'),
    ('b', '(b) = (a) leased, no activity stream entry'),
    ('c', '(c) = (b) packed state, pending record in wf hash'),
    ('d', '(d) = (c) visibility batched (+ its drain)'),
    ('e', '(d\') = (d), the lines read by an indexer outside Redis'),
]
DRAIN = {'d': 'visibility drain (floor_d_drain, 100 lines a call)',
         'e': 'the indexer\'s LPOP visq 100'}


def run_server(whole, n, duro_lua, parts, variants):
    srv = Server(whole)
    try:
        res = {}
        if 1 in parts:
            res['p1'] = part1(srv, n, duro_lua)
        if 2 in parts:
            res['p2'] = part2(srv, n)
        res['p3'] = {v: chain(srv, n, v, duro_lua) for v in variants}
        if whole:
            res['cron'] = srv.cron
            srv.dump()
            t0 = time.monotonic()
            time.sleep(2)
            idle = srv.dump()
            res['idle'] = idle / (time.monotonic() - t0)
        return res
    finally:
        srv.stop()


def k(x):
    return '%8.1f' % (x / 1000) if x is not None else '%8s' % '-'


def main():
    args = sys.argv[1:]
    root = os.path.dirname(os.path.dirname(HERE))
    duro_lua = os.path.join(root, 'common', 'lua', 'duro.lua')
    parts, only_whole = (1, 2, 3), False
    variants = [v for v, _ in VARIANTS]
    while args and args[0].startswith('--'):
        a = args.pop(0)
        if a == '--chain':
            parts = (3,)
        elif a == '--whole':
            only_whole = True
        elif a == '--variants' and args:
            variants = args.pop(0).split(',')
        else:
            sys.exit(__doc__)
    if args and not args[0].isdigit():
        duro_lua = args.pop(0)
    n = int(args[0]) if args else 200
    ws = run_server(True, n, duro_lua, parts, variants)
    fc = (ws if only_whole else
          run_server(False, n, duro_lua, parts, variants))
    fcv = (lambda x: None) if only_whole else (lambda x: x)
    print('floor.py: %d calls per figure, thousands of instructions '
          '(callgrind); FCALL: inside fcallCommand; whole: the whole '
          'redis-server but serverCron' % n)
    if 1 in parts:
        print('\n1. Fixed cost of an FCALL, per call')
        print('  %-52s %8s %8s' % ('', 'FCALL', 'whole'))
        for (label, a), (_, b) in zip(fc['p1'], ws['p1']):
            print('  %-52s %s %s' % (label, k(fcv(a)), k(b)))
    if 2 in parts:
        print('\n2. One redis.call by command: Function minus the no-op of '
              'the same shape;\n   the same command sent by a client '
              '(whole), and that minus a PING')
        print('  %-42s %8s %8s %8s %8s' % ('', 'FCALL', 'whole', 'client',
                                           '-PING'))
        for (label, a, _, _), (_, b, cl, clp) in zip(fc['p2'], ws['p2']):
            print('  %-42s %s %s %s %s' % (label, k(fcv(a)), k(b), k(cl),
                                           k(clp)))
    print('\n3. The bench chain per workflow (FCALL / whole)')
    print('  %-52s %8s %8s' % ('', 'FCALL', 'whole'))
    for v, label in VARIANTS:
        if v not in variants:
            continue
        (a, _), (b, ncmd) = fc['p3'][v], ws['p3'][v]
        print('  %s: %.1f commands per workflow (FCALLs, their redis.calls, '
              'the XREADGROUP)' % (label, ncmd))
        names = CHAIN + ([DRAIN[v]] if v in DRAIN else [])
        for name, x, y in zip(names, a, b):
            print('    %-50s %s %s' % (name, k(fcv(x)), k(y)))
        if v in DRAIN:
            print('    %-50s %s %s' % ('one workflow, without the drain',
                                        k(fcv(sum(a[:-1]))), k(sum(b[:-1]))))
        print('    %-50s %s %s' % ('one workflow', k(fcv(sum(a))),
                                    k(sum(b))))
    print('\n  whole server: serverCron taken out, %.0fM instructions in all;'
          '\n  idle without it: %.1fk instructions/s'
          % (ws['cron'] / 1e6, ws['idle'] / 1000))


if __name__ == '__main__':
    main()
