// chain.mjs: BullMQ's side of `scripts/bench --vs bullmq` (docs/benchmarks.md).
//
// The same workload as Duro's throughput and latency runs, written the way a
// BullMQ user would: a 3-step chain in which each step's processor adds the
// next step's job (deterministic job ids), one Worker at concurrency 50.
//
//   node chain.mjs --bullmq-dir DIR [--redis-server PATH] [--n 2000]
//                  [--latency 200] [--warmup 10] [--json FILE] [--keep]
//
// The driver (this process) starts its own redis-server with Duro's bench
// configuration (127.0.0.1, a free port, its own temp dir, appendonly yes,
// appendfsync everysec, no RDB snapshots, and the words of $DURO_REDIS_ARGS
// as duro-bench adds them), runs the worker in a child process
// (as Duro's bench runs bench-worker beside its driver), adds the chains'
// first jobs and timestamps each chain's end when the worker reports that
// its step 3 completed (the worker's 'completed' event fires after BullMQ's
// moveToFinished script returned). Figures are taken as Duro's are: INFO
// used_cpu_sys+used_cpu_user, commandstats calls and used_memory, deltas
// over the throughput run divided by N. Every chain is then verified: every
// step-3 job is completed with {"done":3} and the queue has 3N completed
// jobs and none failed. Exits 1 when a chain did not complete, 2 when the
// setup failed. BullMQ itself is loaded from --bullmq-dir (an npm prefix
// with node_modules/bullmq), outside the repository.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const QUEUE = 'chain';
const STEPS = 3;
const CONCURRENCY = 50;
const WINDOW = 256; // first jobs in flight, as Duro's BENCH_WINDOW

function parseArgs(argv) {
  const o = { n: 2000, latency: 200, warmup: 10, redisServer: 'redis-server',
              json: null, keep: false, bullmqDir: null, role: 'driver',
              port: 0, prefix: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} wants a value`);
      return argv[++i];
    };
    switch (a) {
      case '--n': o.n = Number(v()); break;
      case '--latency': o.latency = Number(v()); break;
      case '--warmup': o.warmup = Number(v()); break;
      case '--redis-server': o.redisServer = v(); break;
      case '--json': o.json = v(); break;
      case '--keep': o.keep = true; break;
      case '--bullmq-dir': o.bullmqDir = v(); break;
      case '--role': o.role = v(); break; // internal: the worker child
      case '--port': o.port = Number(v()); break;
      case '--prefix': o.prefix = v(); break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (!o.bullmqDir) throw new Error('--bullmq-dir is required');
  for (const k of ['n', 'latency', 'warmup'])
    if (!Number.isInteger(o[k]) || o[k] < 0) throw new Error(`--${k} wants a count`);
  return o;
}

function loadBullmq(dir) {
  const req = createRequire(join(dir, 'package.json'));
  return { bullmq: req('bullmq'), IORedis: req('ioredis') };
}

const jobId = (prefix, chain, step) => `${prefix}c${chain}-s${step}`;
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// ---- The worker child ----

async function runWorker(o) {
  const { bullmq } = loadBullmq(o.bullmqDir);
  const connection = { host: '127.0.0.1', port: o.port };
  const queue = new bullmq.Queue(QUEUE, { connection });
  const worker = new bullmq.Worker(QUEUE, async (job) => {
    const { chain, step } = job.data;
    if (step < STEPS) {
      await queue.add('step', { chain, step: step + 1 },
                      { jobId: jobId(o.prefix, chain, step + 1) });
      return { step };
    }
    return { done: STEPS };
  }, { connection, concurrency: CONCURRENCY });
  worker.on('completed', (job) => {
    if (job.data.step === STEPS) process.send({ chain: job.data.chain });
  });
  worker.on('failed', (job, err) => {
    process.send({ failed: job ? job.id : '?', error: String(err) });
  });
  process.on('SIGTERM', async () => {
    await worker.close();
    await queue.close();
    process.exit(0);
  });
  await worker.waitUntilReady();
  process.send({ ready: true });
}

// ---- The driver: redis-server, the worker, INFO ----

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startRedis(o, dir) {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
                '--appendonly', 'yes', '--appendfsync', 'everysec',
                '--save', '', '--daemonize', 'no', '--protected-mode', 'no'];
  // $DURO_REDIS_ARGS, as duro-bench adds it: both peers run the same
  // server, and compare.mjs refuses runs whose settings differ
  const settings = (process.env.DURO_REDIS_ARGS || '').split(/\s+/).filter(Boolean);
  args.push(...settings);
  const proc = spawn(o.redisServer, args, { stdio: 'ignore' });
  const cmd = `${o.redisServer} ${args.join(' ').replace("--save  ", "--save '' ")}`;
  return { port, proc, cmd, settings: settings.join(' ') };
}

async function connect(IORedis, port) {
  for (let i = 0; i < 100; i++) { // 5 s
    const r = new IORedis({ host: '127.0.0.1', port, lazyConnect: true,
                            maxRetriesPerRequest: null, retryStrategy: () => null });
    r.on('error', () => {});
    try {
      await r.connect();
      if ((await r.ping()) === 'PONG') return r;
    } catch { /* not up yet */ }
    r.disconnect();
    await sleep(50);
  }
  throw new Error(`redis-server did not come up on port ${port}`);
}

async function info(r) {
  const s = await r.info('everything');
  const field = (k) => {
    const m = s.match(new RegExp(`\\r?\\n${k}:([^\\r\\n]+)`));
    return m ? Number(m[1]) : 0;
  };
  let calls = 0;
  const byCmd = {};
  for (const m of s.matchAll(/\ncmdstat_([^:]+):calls=(\d+)/g)) {
    calls += Number(m[2]);
    byCmd[m[1]] = Number(m[2]);
  }
  return { cpuMs: (field('used_cpu_sys') + field('used_cpu_user')) * 1000,
           calls, byCmd, usedMemory: field('used_memory') };
}

// startWorker forks the worker child; chains it reports go to onDone.
function startWorker(o, port, prefix, onDone, onFail) {
  const self = fileURLToPath(import.meta.url);
  const child = fork(self, ['--role', 'worker', '--bullmq-dir', o.bullmqDir,
                            '--port', String(port), '--prefix', prefix],
                     { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('worker not ready in 15 s')), 15000);
    child.on('message', (m) => {
      if (m.ready) { clearTimeout(t); resolve(child); }
      else if (m.failed) onFail(m);
      else onDone(m.chain, nowMs());
    });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`worker exited ${code}`)); });
  });
}

function stopWorker(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 10000);
    child.removeAllListeners('exit');
    child.on('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  });
}

// tracker: start and done times of chains [0, n), and a wait for `want`.
function tracker(n) {
  const t = { start: new Float64Array(n), done: new Float64Array(n), ndone: 0,
              waiters: [] };
  t.onDone = (chain, at) => {
    if (chain < 0 || chain >= n || t.done[chain]) return;
    t.done[chain] = at;
    t.ndone++;
    t.waiters = t.waiters.filter((w) => (t.ndone >= w.want ? (w.resolve(), false) : true));
  };
  t.wait = (want, ms) => new Promise((resolve) => {
    if (t.ndone >= want) return resolve(true);
    const w = { want, resolve: () => { clearTimeout(w.timer); resolve(true); } };
    w.timer = setTimeout(() => { t.waiters = t.waiters.filter((x) => x !== w); resolve(false); }, ms);
    t.waiters.push(w);
  });
  return t;
}

// cpuMs: utime+stime of a process in ms, from /proc (as duro-bench reads
// its workers'), or NaN.
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ
  } catch {
    return NaN;
  }
}

function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

// verify checks every chain's step-3 job and the queue's counts.
async function verify(queue, bullmq, prefix, n) {
  let bad = 0;
  for (let c = 0; c < n; c++) {
    const job = await bullmq.Job.fromId(queue, jobId(prefix, c, STEPS));
    const ok = job && job.finishedOn && !job.failedReason &&
               JSON.stringify(job.returnvalue) === JSON.stringify({ done: STEPS });
    if (!ok) {
      if (bad < 5) console.error(`bullmq: chain ${c}: step ${STEPS} is not completed with {"done":${STEPS}}`);
      bad++;
    }
  }
  return bad;
}

async function throughput(o, ctx) {
  const n = o.n, prefix = 'tp-', t = tracker(n);
  const failures = [];
  const child = await startWorker(o, ctx.port, prefix, t.onDone, (m) => failures.push(m));
  const i0 = await info(ctx.r);
  const wcpu0 = cpuMs(child.pid);
  for (let from = 0; from < n; from += WINDOW) {
    const jobs = [];
    const at = nowMs();
    for (let c = from; c < Math.min(n, from + WINDOW); c++) {
      t.start[c] = at;
      jobs.push({ name: 'step', data: { chain: c, step: 1 },
                  opts: { jobId: jobId(prefix, c, 1) } });
    }
    await ctx.queue.addBulk(jobs);
  }
  const startedIn = nowMs() - t.start[0];
  const all = await t.wait(n, 180000);
  const i1 = await info(ctx.r);
  const wcpu = cpuMs(child.pid) - wcpu0;
  await stopWorker(child);
  if (!all) {
    console.error(`bullmq: throughput: only ${t.ndone} of ${n} chains completed within 180 s`);
    return { ok: false, failures: n - t.ndone };
  }
  let last = 0;
  const lat = [];
  for (let c = 0; c < n; c++) {
    last = Math.max(last, t.done[c]);
    lat.push(t.done[c] - t.start[c]);
  }
  lat.sort((a, b) => a - b);
  const wall = (last - t.start[0]) / 1000;
  const byCmd = {};
  for (const [k, v] of Object.entries(i1.byCmd)) {
    const d = v - (i0.byCmd[k] || 0);
    if (d > 0) byCmd[k] = d / n;
  }
  const res = {
    workflows: n, wall_s: wall, workflows_per_s: n / wall,
    latency_p50_ms: percentile(lat, 0.5), latency_p99_ms: percentile(lat, 0.99),
    start_phase_s: startedIn / 1000,
    redis_cpu_ms_per_wf: (i1.cpuMs - i0.cpuMs) / n,
    redis_calls_per_wf: (i1.calls - i0.calls) / n,
    redis_calls_per_wf_by_command: byCmd,
    redis_memory_bytes_per_wf: (i1.usedMemory - i0.usedMemory) / n,
    worker_cpu_ms_per_wf: wcpu / n,
  };
  let bad = await verify(ctx.queue, ctx.bullmq, prefix, n);
  const counts = await ctx.queue.getJobCounts('completed', 'failed');
  if (counts.completed !== STEPS * n || counts.failed !== 0 || failures.length) {
    console.error(`bullmq: throughput: ${counts.completed} jobs completed (want ${STEPS * n}), ${counts.failed} failed`);
    bad = Math.max(bad, 1);
  }
  const top = Object.entries(byCmd).sort((a, b) => b[1] - a[1]).slice(0, 10)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
  console.log(`bullmq throughput: ${n} chains x ${STEPS} steps in ${wall.toFixed(2)} s: ` +
              `${res.workflows_per_s.toFixed(0)} chains/s; start-to-done p50 ${res.latency_p50_ms.toFixed(1)} ms ` +
              `p99 ${res.latency_p99_ms.toFixed(1)} ms (all added in ${res.start_phase_s.toFixed(2)} s); ` +
              `redis ${res.redis_cpu_ms_per_wf.toFixed(3)} ms CPU/chain, ${res.redis_calls_per_wf.toFixed(1)} cmds/chain, ` +
              `${res.redis_memory_bytes_per_wf.toFixed(0)} B mem/chain; ` +
              `worker CPU ${res.worker_cpu_ms_per_wf.toFixed(3)} ms/chain`);
  console.log(`  redis calls/chain by command: ${top}`);
  return { ok: bad === 0, failures: bad, res };
}

async function latency(o, ctx) {
  const n = o.latency, warm = o.warmup, prefix = 'lat-', t = tracker(n + warm);
  const failures = [];
  const child = await startWorker(o, ctx.port, prefix, t.onDone, (m) => failures.push(m));
  let ok = true;
  for (let c = 0; c < n + warm && ok; c++) {
    t.start[c] = nowMs();
    await ctx.queue.add('step', { chain: c, step: 1 }, { jobId: jobId(prefix, c, 1) });
    if (!(await t.wait(c + 1, 10000))) {
      console.error(`bullmq: latency: chain ${c} not done within 10 s`);
      ok = false;
    }
  }
  await stopWorker(child);
  if (!ok) return { ok: false, failures: 1 };
  const lat = [];
  for (let c = warm; c < n + warm; c++) lat.push(t.done[c] - t.start[c]);
  lat.sort((a, b) => a - b);
  const res = { workflows: n, warmup: warm, p50_ms: percentile(lat, 0.5),
                p99_ms: percentile(lat, 0.99), max_ms: lat[lat.length - 1] };
  const bad = (await verify(ctx.queue, ctx.bullmq, prefix, n + warm)) + failures.length;
  console.log(`bullmq latency: ${n} chains x ${STEPS} steps one at a time (after ${warm} warm-up): ` +
              `start-to-done p50 ${res.p50_ms.toFixed(2)} ms p99 ${res.p99_ms.toFixed(2)} ms max ${res.max_ms.toFixed(2)} ms`);
  return { ok: bad === 0, failures: bad, res };
}

async function runDriver(o) {
  const { bullmq, IORedis } = loadBullmq(o.bullmqDir);
  const dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'duro-bench-bullmq.'));
  const redis = await startRedis(o, dir);
  const out = { peer: 'bullmq', bullmq_version: readVersion(o.bullmqDir),
                node_version: process.version, redis: redis.cmd,
                redis_settings: redis.settings, workloads: {} };
  let code = 0;
  let ctx = null;
  const cleanup = async () => {
    try { if (ctx) { await ctx.queue.close(); ctx.r.disconnect(); } } catch { /* closing */ }
    redis.proc.kill('SIGTERM');
    await new Promise((r) => (redis.proc.exitCode !== null ? r() : redis.proc.on('exit', r)));
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`# kept ${dir}`);
  };
  for (const sig of ['SIGINT', 'SIGTERM'])
    process.on(sig, () => { cleanup().finally(() => process.exit(130)); });
  try {
    const r = await connect(IORedis, redis.port);
    const queue = new bullmq.Queue(QUEUE, { connection: { host: '127.0.0.1', port: redis.port } });
    await queue.waitUntilReady();
    ctx = { r, queue, bullmq, port: redis.port };
    console.log(`# bullmq ${out.bullmq_version} on node ${process.version}; redis: ${redis.cmd}`);
    const tp = await throughput(o, ctx);
    out.workloads.throughput = tp.res || null;
    let failures = tp.failures;
    if (o.latency > 0) {
      await r.flushall('SYNC');
      const lt = await latency(o, ctx);
      out.workloads.latency = lt.res || null;
      failures += lt.failures;
    }
    out.verification_failures = failures;
    out.ok = failures === 0;
    code = out.ok ? 0 : 1;
  } catch (e) {
    console.error(`bullmq: ${e.message}`);
    out.ok = false;
    code = 2;
  }
  await cleanup();
  if (o.json) writeFileSync(o.json, JSON.stringify(out, null, 2) + '\n');
  return code;
}

function readVersion(dir) {
  try {
    const p = join(dir, 'node_modules', 'bullmq', 'package.json');
    return JSON.parse(readFileSync(p, 'utf8')).version;
  } catch {
    return '?';
  }
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`chain.mjs: ${e.message}`);
  process.exit(2);
}
if (opts.role === 'worker') {
  runWorker(opts).catch((e) => { console.error(`bullmq worker: ${e.message}`); process.exit(2); });
} else {
  runDriver(opts).then((c) => process.exit(c));
}
