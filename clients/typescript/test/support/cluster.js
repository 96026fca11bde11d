// cluster.js: a throwaway Duro for the tests: redis-server on a free port,
// duro-scheduler, duro-test-worker (task queue "test"), food-worker
// ("durable-food") and `duro server`,
// all on 127.0.0.1, from the build's bin folder (DURO_BIN_DIR, or
// DURO_BUILD_DIR/bin, or build/bin of the repository). Every process is
// stopped by its PID; every wait is bounded.
import { spawn } from "node:child_process";
import {
  closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../../..");

/** binDir: where the built programs are, or null when there are none. */
export function binDir() {
  const dirs = [];
  if (process.env.DURO_BIN_DIR) dirs.push(process.env.DURO_BIN_DIR);
  if (process.env.DURO_BUILD_DIR)
    dirs.push(path.join(process.env.DURO_BUILD_DIR, "bin"));
  if (!dirs.length) dirs.push(path.join(repo, "build", "bin"));
  return dirs.find((d) => existsSync(path.join(d, "duro"))) ?? null;
}

/** whyNoCluster: a reason to skip, or null when a cluster can be started. */
export function whyNoCluster() {
  if (!binDir())
    return "no built duro (set DURO_BIN_DIR or DURO_BUILD_DIR, or build in build/)";
  const found = (process.env.PATH ?? "").split(path.delimiter)
    .some((d) => existsSync(path.join(d, "redis-server")));
  return found ? null : "redis-server is not installed";
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** waitUntil polls `check` (sync or async) every 50ms for up to `ms`. */
export async function waitUntil(check, ms, what) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await sleep(50);
  }
  throw new Error(`timed out after ${ms}ms waiting for ${what}` +
                  (last ? `: ${last.message}` : ""));
}

/** freePort: a port nobody listens on right now (the kernel picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** redisPing: whether a PING on 127.0.0.1:port answers +PONG within 500ms. */
function redisPing(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.once("error", () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.once("data", (d) => done(d.toString().startsWith("+PONG")));
  });
}

async function httpStatus(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export class Cluster {
  constructor() {
    this.dir = mkdtempSync(path.join(os.tmpdir(), "duro-ts-"));
    this.bin = binDir();
    this.children = [];
    this.env = { ...process.env, DURO_PARTITIONS: "16" };
  }

  /** spawnLogged starts a program with its output in dir/<name>.log. */
  spawnLogged(file, args, name) {
    const log = path.join(this.dir, `${name}.log`);
    const out = openSync(log, "a");
    let child;
    try {
      child = spawn(file, args, {
        env: this.env, stdio: ["ignore", out, out], detached: false,
      });
    } finally {
      closeSync(out); /* the child has its own copy */
    }
    child.logFile = log;
    child.exited = new Promise((r) => child.once("exit", () => r()));
    child.once("error", () => {});
    this.children.push(child);
    return child;
  }

  async startRedis() {
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const child = this.spawnLogged("redis-server", [
        "--port", String(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--dir", this.dir, "--protected-mode", "no",
        "--daemonize", "no",
      ], `redis-${attempt}`);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && child.exitCode === null) {
        if (await redisPing(port)) {
          this.redis = child;
          this.redisPort = port;
          this.env.DURO_REDIS_URL = `redis://127.0.0.1:${port}`;
          return;
        }
        await sleep(20);
      }
      await this.stop(child); /* the port was taken between look and use */
    }
    throw new Error("redis-server did not start (see " + this.dir + ")");
  }

  /**
   * startDuro: the scheduler, the test worker (task queue "test") and the
   * food example's worker (task queue "durable-food").
   */
  startDuro() {
    this.spawnLogged(path.join(this.bin, "duro-scheduler"), [], "scheduler");
    this.spawnLogged(path.join(this.bin, "duro-test-worker"), [], "worker");
    if (existsSync(path.join(this.bin, "food-worker")))
      this.spawnLogged(path.join(this.bin, "food-worker"), [], "food-worker");
  }

  /**
   * startServer runs `duro server` on a free port with extra flags and
   * answers its base URL once /healthz answers 200.
   */
  async startServer(extra = [], name = "server") {
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const child = this.spawnLogged(path.join(this.bin, "duro"),
        ["server", "--http", `127.0.0.1:${port}`, ...extra],
        `${name}-${attempt}`);
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && child.exitCode === null) {
        if (await httpStatus(url + "/healthz") === 200) return url;
        await sleep(50);
      }
      await this.stop(child);
    }
    throw new Error("duro server did not come up (see " + this.dir + ")");
  }

  /** tokenFile writes a token file for --api-token-file. */
  tokenFile(token) {
    const f = path.join(this.dir, "tokens");
    writeFileSync(f, `# test tokens\n${token}\n`, { mode: 0o600 });
    return f;
  }

  /** stop ends one child by PID: SIGTERM, then SIGKILL after 5s. */
  async stop(child) {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killed = await Promise.race([
      child.exited.then(() => false), sleep(5000).then(() => true),
    ]);
    if (killed) {
      child.kill("SIGKILL");
      await Promise.race([child.exited, sleep(2000)]);
    }
  }

  /** logs: the programs' output, to show when a test fails. */
  logs() {
    return this.children.map((c) => {
      let text = "";
      try { text = readFileSync(c.logFile, "utf8").slice(-4000); } catch {}
      return `---- ${path.basename(c.logFile)} ----\n${text}`;
    }).join("\n");
  }

  async stopAll() {
    for (const c of [...this.children].reverse()) await this.stop(c);
    if (!process.env.DURO_KEEP_TEST_DIR)
      rmSync(this.dir, { recursive: true, force: true });
  }
}

/** startCluster: redis, scheduler, worker and a server; answers both. */
export async function startCluster(serverFlags = []) {
  const c = new Cluster();
  try {
    await c.startRedis();
    c.startDuro();
    c.baseUrl = await c.startServer(serverFlags);
    return c;
  } catch (e) {
    await c.stopAll();
    throw e;
  }
}
