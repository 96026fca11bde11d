// errors.test.js: each error class of the client, produced by a real
// `duro server` (bad input, auth, unknown workflow/namespace, update
// rejections, body too large, query timeout, Redis gone) or, for the failures
// that never reach it, by a socket that does not answer or is not there.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, describe, test } from "node:test";

import {
  ClientTimeoutError,
  ConnectionError,
  DeadlineExceededError,
  DuroClient,
  DuroError,
  InvalidArgumentError,
  NotFoundError,
  PayloadTooLargeError,
  QueryTimeoutError,
  UnauthenticatedError,
  UnavailableError,
  UpdateNotSupportedError,
  WorkflowNotRunningError,
} from "../dist/index.js";
import { freePort, startCluster, waitUntil, whyNoCluster } from
  "./support/cluster.js";

const T = { timeout: 90_000 };

/** failure: the error a promise rejects with (fails if it resolves). */
async function failure(p) {
  try {
    const v = await p;
    assert.fail(`expected an error, got ${JSON.stringify(v)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    return e;
  }
}

function expectError(e, Class, status, code) {
  assert.ok(e instanceof Class, `${e?.name}: ${e?.message}`);
  assert.ok(e instanceof DuroError);
  assert.equal(e.status, status);
  assert.equal(e.code, code);
  assert.ok(e.message.length > 0);
  assert.equal(e.name, Class.name);
}

describe("errors from duro server", { skip: whyNoCluster() ?? false }, () => {
  let cluster;
  let client;
  const TOKEN = "ts-client-test-token-0123456789";

  before(async () => {
    cluster = await startCluster(
      ["--query-timeout", "500ms", "--max-body", "64KiB"]);
    client = new DuroClient({ baseUrl: cluster.baseUrl });
  });
  after(async () => {
    if (cluster) await cluster.stopAll();
  });

  test("400: InvalidArgumentError names the field", T, async () => {
    let e = await failure(client.start("e1", {
      workflowType: "gate", taskQueue: undefined,
    }));
    expectError(e, InvalidArgumentError, 400, "INVALID_ARGUMENT");
    assert.match(e.message, /taskQueue/);
    e = await failure(client.start("e1", {
      workflowType: "gate", taskQueue: "test", idReusePolicy: "Sometimes",
    }));
    expectError(e, InvalidArgumentError, 400, "INVALID_ARGUMENT");
    assert.match(e.message, /idReusePolicy/);
    e = await failure(client.list({ pageSize: 0 }));
    expectError(e, InvalidArgumentError, 400, "INVALID_ARGUMENT");
    assert.match(e.message, /pageSize/);
    e = await failure(client.count("ExecutionStatus ~ 1"));
    expectError(e, InvalidArgumentError, 400, "INVALID_ARGUMENT");
    assert.equal(e.body.code, "INVALID_ARGUMENT");
  });

  test("404: NotFoundError for a workflow or a namespace", T, async () => {
    expectError(await failure(client.signal("e-none", "open")),
                NotFoundError, 404, "NOT_FOUND");
    expectError(await failure(client.result("e-none", { wait: 0 })),
                NotFoundError, 404, "NOT_FOUND");
    const other = new DuroClient({ baseUrl: cluster.baseUrl,
                                   namespace: "elsewhere" });
    const e = await failure(other.list());
    expectError(e, NotFoundError, 404, "NOT_FOUND");
    assert.match(e.message, /elsewhere/);
  });

  test("update: the result, a rejection (400), a closed workflow (409)", T,
       async () => {
    await client.start("e-upd", { workflowType: "updatable",
                                  taskQueue: "test" });
    assert.equal(await client.update("e-upd", "bump", { n: 2 },
                                     { updateId: "u-2" }), 2);
    /* the same updateId: the recorded result, not applied again */
    assert.equal(await client.update("e-upd", "bump", { n: 2 },
                                     { updateId: "u-2" }), 2);
    const e = await failure(client.update("e-upd", "bump", { n: -1 }));
    expectError(e, InvalidArgumentError, 400, "INVALID_ARGUMENT");
    assert.match(e.message, /rejected: n is negative/);
    /* an unknown workflow is a plain NotFoundError: the route exists */
    const nf = await failure(client.update("e-none", "x"));
    expectError(nf, NotFoundError, 404, "NOT_FOUND");
    assert.ok(!(nf instanceof UpdateNotSupportedError));
    await client.terminate("e-upd");
    expectError(await failure(client.update("e-upd", "bump", { n: 1 })),
                WorkflowNotRunningError, 409, "NOT_RUNNING");
  });

  test("413: PayloadTooLargeError", T, async () => {
    const big = "x".repeat(100 * 1024);
    const e = await failure(client.start("e-big", {
      workflowType: "gate", taskQueue: "test", input: big,
    }));
    expectError(e, PayloadTooLargeError, 413, "PAYLOAD_TOO_LARGE");
  });

  test("504: QueryTimeoutError when no worker answers", T, async () => {
    await client.start("e-q", { workflowType: "gate", taskQueue: "nobody" });
    const t0 = Date.now();
    const e = await failure(client.query("e-q", "stage"));
    expectError(e, QueryTimeoutError, 504, "DEADLINE_EXCEEDED");
    assert.ok(e instanceof DeadlineExceededError);
    assert.ok(Date.now() - t0 < 10_000);
    /* a result wait that runs out is a deadline, not a query timeout */
    const r = await failure(client.result("e-q", { wait: 0 }));
    expectError(r, DeadlineExceededError, 504, "DEADLINE_EXCEEDED");
    assert.ok(!(r instanceof QueryTimeoutError));
    await client.terminate("e-q");
  });

  test("401: UnauthenticatedError without the right token", T, async () => {
    const url = await cluster.startServer(
      ["--api-token-file", cluster.tokenFile(TOKEN)], "server-auth");
    const none = new DuroClient({ baseUrl: url });
    expectError(await failure(none.count()), UnauthenticatedError, 401,
                "UNAUTHENTICATED");
    const wrong = new DuroClient({ baseUrl: url,
                                   apiToken: "not-the-token-0123456789" });
    expectError(await failure(wrong.start("e-auth", {
      workflowType: "gate", taskQueue: "test",
    })), UnauthenticatedError, 401, "UNAUTHENTICATED");
    /* the refused start touched nothing */
    const right = new DuroClient({ baseUrl: url, apiToken: TOKEN });
    expectError(await failure(right.describe("e-auth")), NotFoundError, 404,
                "NOT_FOUND");
    assert.equal(typeof (await right.count()).count, "number");
  });

  /* last: it stops this cluster's Redis */
  test("503: UnavailableError when Redis is gone", T, async () => {
    await cluster.stop(cluster.redis);
    let e;
    await waitUntil(async () => {
      e = await failure(client.describe("e1"));
      return e instanceof UnavailableError;
    }, 20_000, "a 503 from the server");
    expectError(e, UnavailableError, 503, e.code);
    assert.ok(["UNAVAILABLE", "REDIS_AUTH"].includes(e.code));
  });
});

describe("errors that never reach a server", () => {
  test("nothing listening: ConnectionError (status 0)", T, async () => {
    const port = await freePort();
    const c = new DuroClient({ baseUrl: `http://127.0.0.1:${port}` });
    const e = await failure(c.describe("x"));
    expectError(e, ConnectionError, 0, "CONNECTION_FAILED");
    assert.ok(e.cause);
  });

  test("no answer within timeoutMs: ClientTimeoutError", T, async () => {
    const sockets = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise((r) => silent.listen(0, "127.0.0.1", r));
    try {
      const c = new DuroClient({
        baseUrl: `http://127.0.0.1:${silent.address().port}`, timeoutMs: 300,
      });
      const t0 = Date.now();
      const e = await failure(c.describe("x"));
      expectError(e, ClientTimeoutError, 0, "CLIENT_TIMEOUT");
      assert.ok(Date.now() - t0 < 5_000);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }
  });

  test("an answer that is not Duro's: DuroError with the status", T,
       async () => {
    const proxy = http.createServer((req, res) => {
      if (req.url.endsWith("/plain")) {
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end("hello");
        return;
      }
      res.writeHead(502, { "Content-Type": "text/html" });
      res.end("<html>bad gateway</html>");
    });
    await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
    try {
      const c = new DuroClient({
        baseUrl: `http://127.0.0.1:${proxy.address().port}`,
      });
      const e = await failure(c.describe("x"));
      expectError(e, DuroError, 502, "HTTP_502");
      assert.match(e.message, /bad gateway/);
      assert.equal(e.body, undefined);
      const p = await failure(c.taskQueue("plain"));
      expectError(p, DuroError, 200, "MALFORMED_ANSWER");
    } finally {
      await new Promise((r) => proxy.close(r));
    }
  });

  /* a server older than updates: a stand-in without the route, whose 404
   * reads as UpdateNotSupportedError; and one with it, whose results and
   * 404s pass through */
  test("update on a server without the route: UpdateNotSupportedError", T,
       async () => {
    const srv = http.createServer((req, res) => {
      res.setHeader("Content-Type", "application/json");
      if (req.url === "/api/v1/openapi.json") {
        res.end(JSON.stringify({ paths: {} }));
      } else {
        res.writeHead(404);
        res.end(JSON.stringify({ code: "NOT_FOUND", message: "no route" }));
      }
    });
    await new Promise((r) => srv.listen(0, "127.0.0.1", r));
    try {
      const c = new DuroClient({
        baseUrl: `http://127.0.0.1:${srv.address().port}`,
      });
      const e = await failure(c.update("any", "add", 2));
      expectError(e, UpdateNotSupportedError, 404, "NOT_FOUND");
      assert.ok(e instanceof NotFoundError);
      assert.match(e.message, /no update route/);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  test("update once a server has the route: result, or plain NotFoundError",
       T, async () => {
    const srv = http.createServer((req, res) => {
      res.setHeader("Content-Type", "application/json");
      if (req.url === "/api/v1/openapi.json") {
        res.end(JSON.stringify({ paths: {
          "/api/v1/namespaces/{ns}/workflows/{workflowId}/update/{name}": {},
        } }));
      } else if (req.url.includes("/workflows/known/update/")) {
        res.end(JSON.stringify({ result: 5 }));
      } else {
        res.writeHead(404);
        res.end(JSON.stringify({ code: "NOT_FOUND", message: "no such run" }));
      }
    });
    await new Promise((r) => srv.listen(0, "127.0.0.1", r));
    try {
      const c = new DuroClient({
        baseUrl: `http://127.0.0.1:${srv.address().port}`,
      });
      assert.equal(await c.update("known", "add", 2), 5);
      const e = await failure(c.update("unknown", "add", 2));
      expectError(e, NotFoundError, 404, "NOT_FOUND");
      assert.ok(!(e instanceof UpdateNotSupportedError));
      assert.equal(e.message, "no such run");
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  test("bad arguments are refused before any request", () => {
    assert.throws(() => new DuroClient({}), TypeError);
    const c = new DuroClient({ baseUrl: "http://127.0.0.1:1/" });
    assert.equal(c.baseUrl, "http://127.0.0.1:1");
    assert.equal(c.namespace, "default");
    assert.throws(() => c.describe(""), TypeError);
  });
});
