// compare.mjs: the table of `scripts/bench --vs bullmq` (docs/benchmarks.md).
//
//   node compare.mjs --duro A.json [B.json ...] --bullmq X.json [Y.json ...]
//                    [--json OUT]
//
// Reads the JSON documents of Duro's runs (duro-bench --only
// throughput,latency --workers 1) and BullMQ's (chain.mjs), and prints for
// each figure Duro's median, BullMQ's median, min-max of each, the ratio of
// the medians and the target of issue 17. A run that failed its
// verification, or is missing, makes the exit status 1: its figures are
// not printed as if they were good; so do runs whose redis-server settings
// (redis_settings of each document) differ.
import { readFileSync, writeFileSync } from 'node:fs';

const FIGURES = [
  // name, unit, duro path, bullmq path, target ratio, target op, digits
  ['throughput', 'chains/s', ['throughput', 0, 'workflows_per_s'],
   ['throughput', 'workflows_per_s'], 2.0, '>=', 0],
  ['unloaded latency p50', 'ms', ['latency', 'p50_ms'], ['latency', 'p50_ms'], 0.3, '<=', 2],
  ['unloaded latency p99', 'ms', ['latency', 'p99_ms'], ['latency', 'p99_ms'], null, null, 2],
  ['Redis CPU per workflow', 'ms', ['throughput', 0, 'redis_cpu_ms_per_wf'],
   ['throughput', 'redis_cpu_ms_per_wf'], 0.5, '<=', 3],
  ['Redis commands per workflow', '', ['throughput', 0, 'redis_calls_per_wf'],
   ['throughput', 'redis_calls_per_wf'], null, null, 1],
  ['Redis memory per workflow', 'B', ['throughput', 0, 'redis_memory_bytes_per_wf'],
   ['throughput', 'redis_memory_bytes_per_wf'], null, null, 0],
  ['worker CPU per workflow', 'ms', ['throughput', 0, 'worker_cpu_ms_per_wf'],
   ['throughput', 'worker_cpu_ms_per_wf'], null, null, 3],
];

function parseArgs(argv) {
  const o = { duro: [], bullmq: [], json: null };
  let into = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--duro') into = o.duro;
    else if (argv[i] === '--bullmq') into = o.bullmq;
    else if (argv[i] === '--json') o.json = argv[++i];
    else if (into) into.push(argv[i]);
    else throw new Error(`unexpected argument ${argv[i]}`);
  }
  return o;
}

function load(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    return { ok: false, error: e.message };
  }
}

function dig(doc, path) {
  let v = doc && doc.workloads;
  for (const k of path) v = v == null ? undefined : v[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function stats(values) {
  const v = values.filter((x) => x !== null).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length };
}

const fmt = (x, d) => (x === null ? '-' : x.toFixed(d));
const cell = (s, d) => (s ? `${fmt(s.median, d)} (${fmt(s.min, d)}-${fmt(s.max, d)})` : '-');

function main() {
  const o = parseArgs(process.argv.slice(2));
  const duro = o.duro.map(load), bull = o.bullmq.map(load);
  let bad = 0;
  duro.forEach((d, i) => {
    if (!d.ok) { bad++; console.error(`compare: Duro run ${i + 1} failed (${o.duro[i]})`); }
  });
  bull.forEach((d, i) => {
    if (!d.ok) { bad++; console.error(`compare: BullMQ run ${i + 1} failed (${o.bullmq[i]})`); }
  });
  // the comparison holds only on one server configuration for both
  const settings = new Set([...duro, ...bull].filter((d) => d.ok)
    .map((d) => d.redis_settings ?? '(not recorded)'));
  if (settings.size > 1) {
    bad++;
    console.error(`compare: the runs' redis-server settings differ: ${[...settings].join(' | ')}`);
  } else if (settings.size === 1) {
    console.log(`# redis-server settings of both peers: ${[...settings][0] || '(none)'}`);
  }
  const good = (docs) => docs.filter((d) => d.ok);
  const rows = [];
  console.log(`\n${'figure'.padEnd(30)} ${'Duro median (min-max)'.padEnd(26)} ` +
              `${'BullMQ median (min-max)'.padEnd(26)} ${'Duro/BullMQ'.padEnd(12)} target`);
  for (const [name, unit, dp, bp, target, op, digits] of FIGURES) {
    const ds = stats(good(duro).map((d) => dig(d, dp)));
    const bs = stats(good(bull).map((d) => dig(d, bp)));
    const ratio = ds && bs && bs.median !== 0 ? ds.median / bs.median : null;
    const met = ratio === null || target === null ? null
      : op === '>=' ? ratio >= target : ratio <= target;
    const label = unit ? `${name} (${unit})` : name;
    console.log(`${label.padEnd(30)} ${cell(ds, digits).padEnd(26)} ${cell(bs, digits).padEnd(26)} ` +
                `${(ratio === null ? '-' : ratio.toFixed(2) + 'x').padEnd(12)} ` +
                `${target === null ? '-' : `${op} ${target}x ${met === null ? '' : met ? 'met' : 'MISSED'}`}`);
    rows.push({ figure: name, unit, duro: ds, bullmq: bs, ratio, target, target_op: op, met });
  }
  console.log(`(${good(duro).length} Duro and ${good(bull).length} BullMQ runs; ratio of the medians; ` +
              (bad ? `${bad} run(s) FAILED verification and are left out)` : 'every chain and workflow verified)'));
  if (o.json) {
    writeFileSync(o.json, JSON.stringify({ rows, duro, bullmq: bull, ok: bad === 0 }, null, 2) + '\n');
    console.log(`# figures written to ${o.json}`);
  }
  return bad === 0 && duro.length && bull.length ? 0 : 1;
}

process.exit(main());
