// floor_bullmq.mjs: BullMQ's side of bench/lua/floor.py (docs/benchmarks.md,
// "The floor of one Function per step"): the instructions a whole
// redis-server spends per chain of bench/bullmq/chain.mjs's workload (3
// steps, each step's processor adds the next step's job, deterministic job
// ids, one Worker at concurrency 50, the first jobs added 256 at a time),
// counted by callgrind as floor.py counts Duro's.
//
//   node bench/lua/floor_bullmq.mjs [--bullmq-dir DIR] [--n 200]
//
// A private redis-server (127.0.0.1, a free port, its own temp dir, AOF on
// as in the bench) runs under `valgrind --tool=callgrind`; 10 chains warm
// it up (BullMQ's scripts loaded, its keys made), then `callgrind_control
// -d` brackets the N chains; serverCron's share (housekeeping by the clock,
// stretched ~50 times by valgrind) is taken out as floor.py does. The
// worker runs in this process (its Redis traffic is the same as in its own
// one). Every chain is verified. BullMQ is loaded from --bullmq-dir (an npm
// prefix with node_modules/bullmq; default: the copy `scripts/bench --vs
// bullmq` installed), never from the repository.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const QUEUE = 'chain';
const STEPS = 3;
const CONCURRENCY = 50;
const WINDOW = 256;
const WARMUP = 10;

function parseArgs(argv) {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const o = { n: 200, bullmqDir: process.env.DURO_BULLMQ_DIR ||
              join(cache, 'duro-bench', 'bullmq-5.81.5') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--n') o.n = Number(argv[++i]);
    else if (argv[i] === '--bullmq-dir') o.bullmqDir = argv[++i];
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!Number.isInteger(o.n) || o.n <= 0) throw new Error('--n wants a count');
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

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

// withTimeout rejects when p takes longer than ms.
function withTimeout(p, ms, what) {
  let t;
  return Promise.race([p, new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: over ${ms / 1000} s`)), ms);
  })]).finally(() => clearTimeout(t));
}

// dump: callgrind's counters since the last dump, serverCron's taken out.
async function dump(srv, r) {
  srv.ndump++;
  execFileSync('callgrind_control', ['-d', String(srv.proc.pid)],
               { stdio: 'ignore', timeout: 60000 });
  await r.ping(); // wakes it to write the dump
  const path = `${srv.out}.${srv.ndump}`;
  for (let i = 0; i < 600; i++) {
    if (existsSync(path)) {
      const m = readFileSync(path, 'utf8').match(/\n(?:summary|totals): (\d+)/);
      if (m) {
        const ann = execFileSync('callgrind_annotate',
                                 ['--inclusive=yes', '--threshold=100', path],
                                 { encoding: 'utf8', timeout: 120000,
                                   maxBuffer: 64 << 20 });
        const c = ann.split('\n').find((l) => l.includes(':serverCron '));
        const cron = c ? Number(c.trim().split(/\s+/)[0].replace(/,/g, '')) : 0;
        return { total: Number(m[1]) - cron, cron };
      }
    }
    await sleep(100);
  }
  throw new Error(`no callgrind dump ${path} in 60 s`);
}

async function calls(r) {
  const s = await r.info('commandstats');
  const by = {};
  for (const m of s.matchAll(/cmdstat_([^:]+):calls=(\d+)/g)) by[m[1]] = Number(m[2]);
  return by;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const req = createRequire(join(o.bullmqDir, 'package.json'));
  const bullmq = req('bullmq');
  const IORedis = req('ioredis');
  const dir = mkdtempSync(join(tmpdir(), 'duro-floor-bullmq.'));
  const port = await freePort();
  const srv = { out: join(dir, 'cg.out'), ndump: 0 };
  srv.proc = spawn('valgrind', [
    '--tool=callgrind', `--callgrind-out-file=${srv.out}`, 'redis-server',
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
    '--daemonize', 'no', '--protected-mode', 'no'], { stdio: 'ignore' });
  let r = null, queue = null, worker = null;
  try {
    for (let i = 0; i < 600 && !r; i++) { // 60 s: valgrind starts slowly
      const c = new IORedis({ host: '127.0.0.1', port, lazyConnect: true,
                              maxRetriesPerRequest: null, retryStrategy: () => null });
      c.on('error', () => {});
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') r = c;
      } catch { c.disconnect(); await sleep(100); }
    }
    if (!r) throw new Error('redis-server under valgrind did not answer in 60 s');
    const connection = { host: '127.0.0.1', port };
    queue = new bullmq.Queue(QUEUE, { connection });
    let prefix = 'w-';
    const done = new Set();
    worker = new bullmq.Worker(QUEUE, async (job) => {
      const { chain, step } = job.data;
      if (step < STEPS) {
        await queue.add('step', { chain, step: step + 1 },
                        { jobId: `${prefix}c${chain}-s${step + 1}` });
        return { step };
      }
      return { done: STEPS };
    }, { connection, concurrency: CONCURRENCY });
    worker.on('completed', (job) => {
      if (job.data.step === STEPS) done.add(`${prefix}${job.data.chain}`);
    });
    await worker.waitUntilReady();
    // job ids as chain.mjs's (prefix: the warm-up's, then the measured run's)
    const addChains = async (pfx, n) => {
      for (let from = 0; from < n; from += WINDOW) {
        const jobs = [];
        for (let c = from; c < Math.min(n, from + WINDOW); c++) {
          jobs.push({ name: 'step', data: { chain: c, step: 1 },
                      opts: { jobId: `${pfx}c${c}-s1` } });
        }
        await queue.addBulk(jobs);
      }
    };
    const waitDone = async (pfx, n) => {
      const want = () => { let k = 0; for (let c = 0; c < n; c++) if (done.has(`${pfx}${c}`)) k++; return k; };
      for (let i = 0; i < 6000 && want() < n; i++) await sleep(100);
      if (want() < n) throw new Error(`only ${want()} of ${n} chains done in 600 s`);
    };
    await withTimeout((async () => { await addChains(prefix, WARMUP); await waitDone(prefix, WARMUP); })(),
                      600000, 'warm-up');
    prefix = 'tp-';
    await dump(srv, r);
    const c0 = await calls(r);
    const t0 = Date.now();
    await withTimeout((async () => { await addChains(prefix, o.n); await waitDone(prefix, o.n); })(),
                      900000, 'chains');
    const wall = (Date.now() - t0) / 1000;
    const d = await dump(srv, r);
    const c1 = await calls(r);
    let bad = 0;
    for (let c = 0; c < o.n; c++) {
      const job = await bullmq.Job.fromId(queue, `${prefix}c${c}-s${STEPS}`);
      if (!job || !job.finishedOn || JSON.stringify(job.returnvalue) !== JSON.stringify({ done: STEPS })) bad++;
    }
    const counts = await queue.getJobCounts('completed', 'failed');
    if (bad || counts.failed || counts.completed !== STEPS * (o.n + WARMUP)) {
      throw new Error(`${bad} chains not completed with {"done":3}; counts ${JSON.stringify(counts)}`);
    }
    const by = Object.entries(c1).map(([k, v]) => [k, (v - (c0[k] || 0)) / o.n])
      .filter(([k, v]) => v > 0 && k !== 'info' && k !== 'ping').sort((a, b) => b[1] - a[1]);
    const cmds = by.reduce((s, [, v]) => s + v, 0);
    console.log(`floor_bullmq: bullmq ${JSON.parse(readFileSync(join(o.bullmqDir, 'node_modules', 'bullmq', 'package.json'), 'utf8')).version}, ` +
                `${o.n} chains x ${STEPS} steps (after ${WARMUP} warm-up) in ${wall.toFixed(1)} s under callgrind, all verified`);
    console.log(`  whole redis-server: ${(d.total / o.n / 1000).toFixed(1)}k instructions per chain ` +
                `(serverCron's ${(d.cron / o.n / 1000).toFixed(1)}k per chain taken out)`);
    console.log(`  commands per chain: ${cmds.toFixed(1)} (${by.slice(0, 12).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')})`);
  } finally {
    if (worker) await worker.close(true).catch(() => {});
    if (queue) await queue.close().catch(() => {});
    if (r) r.disconnect();
    srv.proc.kill('SIGTERM');
    await withTimeout(new Promise((res) => (srv.proc.exitCode !== null ? res() : srv.proc.on('exit', res))),
                      60000, 'redis-server exit').catch(() => srv.proc.kill('SIGKILL'));
    if (process.env.DURO_KEEP) console.log(`  (callgrind dumps kept in ${dir})`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(`floor_bullmq: ${e.message}`);
  process.exit(1);
});
