// client.test.js: every DuroClient method against a real `duro server`,
// redis-server, duro-scheduler and duro-test-worker (cluster.js). The
// test worker's "gate" workflow runs an activity, a 100ms timer, then waits
// up to 30s for signal "open" and answers {"echo", "signal"}; its query
// "stage" says where it is ("waiting" once it waits for the signal).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";

import {
  DeadlineExceededError,
  DuroClient,
  DuroError,
  NotFoundError,
  WorkflowAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotRunningError,
} from "../dist/index.js";
import { startCluster, waitUntil, whyNoCluster } from "./support/cluster.js";

const skip = whyNoCluster();
const T = { timeout: 90_000 };

let cluster;
let client;

/** startGate starts a gate run and waits until it waits for "open". */
async function startGate(id, extra = {}) {
  const r = await client.start(id, {
    workflowType: "gate", taskQueue: "test", input: { n: 7 }, ...extra,
  });
  await waitUntil(async () => (await client.query(id, "stage")) === "waiting",
                  20_000, `${id} to wait for its signal`);
  return r;
}

describe("DuroClient against duro server", { skip: skip ?? false }, () => {
  before(async () => {
    /* a short query timeout, for the query-timeout test */
    cluster = await startCluster(["--query-timeout", "1s"]);
    client = new DuroClient({ baseUrl: cluster.baseUrl });
  });
  after(async () => {
    if (cluster) await cluster.stopAll();
  });

  test("start, query, describe, signal, result", T, async () => {
    const { workflowId, runId } = await startGate("ts-g1");
    assert.equal(workflowId, "ts-g1");
    assert.match(runId, /^[0-9a-f-]{36}$/);

    const d = await client.describe("ts-g1");
    assert.equal(d.workflowId, "ts-g1");
    assert.equal(d.runId, runId);
    assert.equal(d.workflowType, "gate");
    assert.equal(d.taskQueue, "test");
    assert.equal(d.status, "RUNNING");
    assert.deepEqual(d.input, { n: 7 });
    assert.equal((await client.describe("ts-g1", { runId })).runId, runId);

    const s = await client.signal("ts-g1", "open", { by: "ts" });
    assert.equal(s.runId, runId);
    const result = await client.result("ts-g1", { wait: 20_000 });
    assert.deepEqual(result, { echo: { n: 7 }, signal: { by: "ts" } });
    const closed = await client.resultExecution("ts-g1", { wait: 0 });
    assert.equal(closed.status, "COMPLETED");
    assert.ok(closed.closeTime);
  });

  test("describe of an older run of a continue-as-new chain", T, async () => {
    // the test worker's "chain" continues as new until runs is 1
    const { runId } = await client.start("ts-chain", {
      workflowType: "chain", taskQueue: "test", input: { n: 1, runs: 2 },
    });
    assert.equal(await client.result("ts-chain", { wait: 20_000 }), 3);
    const latest = await client.describe("ts-chain");
    assert.notEqual(latest.runId, runId);
    assert.equal(latest.continuedFromRunId, runId);
    const older = await client.describe("ts-chain", { runId });
    assert.equal(older.runId, runId);
    assert.equal(older.status, "CONTINUED_AS_NEW");
    assert.deepEqual(older.input, { n: 1, runs: 2 });
    assert.equal(older.continuedAsRunId, latest.runId);
    const h = await client.history("ts-chain", { runId, pageSize: 1 });
    assert.equal(h.events[0].data.runId, runId);
  });

  test("start of a running id: WorkflowAlreadyStartedError (409)", T,
       async () => {
    await client.start("ts-dup", { workflowType: "gate", taskQueue: "test" });
    const err = await client.start("ts-dup", {
      workflowType: "gate", taskQueue: "test",
    }).catch((e) => e);
    assert.ok(err instanceof WorkflowAlreadyStartedError, String(err));
    assert.ok(err instanceof DuroError);
    assert.equal(err.status, 409);
    assert.equal(err.code, "ALREADY_STARTED");
    assert.match(err.message, /ts-dup/);
    await client.terminate("ts-dup", "done with it");
  });

  test("idReusePolicy and timeouts reach the server", T, async () => {
    await startGate("ts-reuse");
    await client.signal("ts-reuse", "open");
    await client.result("ts-reuse", { wait: 20_000 });
    await assert.rejects(
      client.start("ts-reuse", {
        workflowType: "gate", taskQueue: "test",
        idReusePolicy: "RejectDuplicate",
      }), WorkflowAlreadyStartedError);
    const again = await client.start("ts-reuse", {
      workflowType: "gate", taskQueue: "test",
      idReusePolicy: "AllowDuplicate", executionTimeout: "1s",
      taskTimeout: 10_000,
    });
    const e = await client.result("ts-reuse", { wait: 20_000 }).then(
      () => assert.fail("a run past its execution timeout completed"),
      (err) => err);
    assert.ok(e instanceof WorkflowFailedError, String(e));
    assert.equal(e.workflowStatus, "TIMED_OUT");
    assert.equal(e.execution.runId, again.runId);
  });

  test("a run timeout closes the run TIMED_OUT", T, async () => {
    await client.start("ts-run-timeout", {
      workflowType: "gate", taskQueue: "test", runTimeout: "500ms",
    });
    const e = await client.result("ts-run-timeout", { wait: 20_000 }).then(
      () => assert.fail("a run past its run timeout completed"),
      (err) => err);
    assert.ok(e instanceof WorkflowFailedError, String(e));
    assert.equal(e.workflowStatus, "TIMED_OUT");
  });

  test("signalWithStart starts once, then signals", T, async () => {
    const opts = {
      workflowType: "gate", taskQueue: "test", input: "x",
      signalInput: "first",
    };
    const a = await client.signalWithStart("ts-sws", "open", opts);
    assert.equal(a.started, true);
    assert.equal(a.workflowId, "ts-sws");
    const result = await client.result("ts-sws", { wait: 20_000 });
    assert.deepEqual(result, { echo: "x", signal: "first" });

    const b = await client.signalWithStart("ts-sws2", "other", opts);
    assert.equal(b.started, true);
    const c = await client.signalWithStart("ts-sws2", "open", opts);
    assert.equal(c.started, false);
    assert.equal(c.runId, b.runId);
    assert.deepEqual(await client.result("ts-sws2", { wait: 20_000 }),
                     { echo: "x", signal: "first" });
  });

  test("cancel, terminate, and what a closed run refuses", T, async () => {
    await startGate("ts-cancel");
    const c = await client.cancel("ts-cancel", "changed my mind");
    assert.equal(c.alreadyRequested, false);
    /* the gate's wait gives up when canceled and the workflow fails */
    const e = await client.result("ts-cancel", { wait: 20_000 })
      .catch((err) => err);
    assert.ok(e instanceof WorkflowFailedError, String(e));
    assert.ok(["FAILED", "CANCELED"].includes(e.workflowStatus));
    assert.notEqual(e.execution.failure ?? e.execution.status, undefined);
    await assert.rejects(client.cancel("ts-cancel"), WorkflowNotRunningError);

    await startGate("ts-term");
    await client.terminate("ts-term", "by the test");
    const t = await client.result("ts-term", { wait: 5_000 })
      .catch((err) => err);
    assert.ok(t instanceof WorkflowFailedError);
    assert.equal(t.workflowStatus, "TERMINATED");
    assert.equal(t.execution.status, "TERMINATED");

    const s = await client.signal("ts-term", "open").catch((err) => err);
    assert.ok(s instanceof WorkflowNotRunningError, String(s));
    assert.equal(s.status, 409);
    assert.equal(s.code, "NOT_RUNNING");
    await assert.rejects(client.terminate("ts-term"), WorkflowNotRunningError);
  });

  test("history: pages, then a long poll that sees the next event", T,
       async () => {
    await startGate("ts-hist");
    const all = [];
    let token;
    for (let i = 0; i < 100; i++) {
      const page = await client.history("ts-hist",
                                        { pageSize: 2, nextPageToken: token });
      assert.ok(page.events.length <= 2);
      all.push(...page.events);
      token = page.nextPageToken;
      if (!token || !page.events.length) break;
    }
    assert.ok(all.length >= 3, JSON.stringify(all));
    all.forEach((ev, i) => {
      assert.equal(ev.eventId, i + 1);
      assert.equal(typeof ev.type, "string");
    });
    const whole = await client.history("ts-hist", { pageSize: 1000 });
    assert.deepEqual(whole.events.map((e) => e.eventId),
                     all.map((e) => e.eventId));

    /* follow the run: a long poll after the last event gets the signal's */
    const last = all.length;
    /* with waitNewEvent the token stays set while the run is open */
    const tail = await client.history("ts-hist",
                                      { pageSize: 1000, waitNewEvent: true });
    assert.ok(tail.nextPageToken, JSON.stringify(tail));
    const poll = client.history("ts-hist", {
      waitNewEvent: true, wait: 20_000,
      nextPageToken: tail.nextPageToken,
    });
    const sentAt = Date.now();
    await client.signal("ts-hist", "open", 1);
    const next = await poll;
    assert.ok(next.events.length >= 1, JSON.stringify(next));
    assert.ok(next.events[0].eventId > last);
    assert.ok(Date.now() - sentAt < 15_000);
  });

  test("historyEvents: every page, and following a run to its close", T,
       async () => {
    await startGate("ts-follow");
    const now = [];
    for await (const ev of client.historyEvents("ts-follow", { pageSize: 2 }))
      now.push(ev.eventId);
    assert.deepEqual(now, now.map((_, i) => i + 1));
    assert.ok(now.length >= 3);

    const followed = [];
    const reader = (async () => {
      for await (const ev of client.historyEvents("ts-follow", {
        follow: true, pageSize: 3, wait: 2_000,
      })) {
        followed.push(ev);
        if (followed.length === now.length)
          await client.signal("ts-follow", "open", "go");
      }
    })();
    await reader; /* ends because the run closed, not because of a wait */
    const closed = await client.describe("ts-follow");
    assert.equal(closed.status, "COMPLETED");
    assert.equal(followed.length, closed.historyLength);
    assert.ok(followed.length > now.length);
  });

  test("an id holding \"/\" is refused before any request", () => {
    assert.throws(() => client.describe("a/b"), /cannot be reached/);
  });

  test("list, listAll and count", T, async () => {
    for (const id of ["ts-l1", "ts-l2", "ts-l3"])
      await client.start(id, { workflowType: "gate", taskQueue: "test" });
    const q = 'WorkflowType = "gate" AND ExecutionStatus = "RUNNING"';
    const page = await client.list({ query: q, pageSize: 2 });
    assert.equal(page.executions.length, 2);
    assert.ok(page.nextPageToken);
    for (const ex of page.executions) {
      assert.equal(ex.workflowType, "gate");
      assert.equal(ex.status, "RUNNING");
    }
    const ids = [];
    for await (const ex of client.listAll({ query: q, pageSize: 1 }))
      ids.push(ex.workflowId);
    for (const id of ["ts-l1", "ts-l2", "ts-l3"]) assert.ok(ids.includes(id));
    assert.equal(new Set(ids).size, ids.length);
    const n = await client.count(q);
    assert.equal(n.count, ids.length);
    assert.ok((await client.count()).count >= n.count);
    for (const id of ["ts-l1", "ts-l2", "ts-l3"]) await client.terminate(id);
  });

  test("taskQueue answers the queue's streams", T, async () => {
    const s = await client.taskQueue("test");
    assert.equal(s.taskQueue, "test");
    assert.equal(typeof s.workflowTasks.backlog, "number");
    assert.equal(typeof s.activityTasks.consumers, "number");
  });

  test("searchAttributes and memo are sent as given", T, async () => {
    /* CustomerId is not registered: the server names it (400) */
    const r = await client.start("ts-sa", {
      workflowType: "gate", taskQueue: "test",
      searchAttributes: { CustomerId: "c-1" }, memo: { note: "hi" },
    }).catch((e) => e);
    assert.ok(r instanceof DuroError, String(r));
    assert.equal(r.status, 400, String(r));
    assert.match(r.message, /CustomerId/);
    await client.start("ts-sa", {
      workflowType: "gate", taskQueue: "test", memo: { note: "hi" },
    });
    const d = await client.describe("ts-sa");
    assert.deepEqual(d.memo, { note: "hi" });
    assert.deepEqual(d.searchAttributes, {});
    await client.terminate("ts-sa");
  });

  test("result with a wait that runs out: DeadlineExceededError", T,
       async () => {
    await client.start("ts-wait", { workflowType: "gate", taskQueue: "test" });
    const t0 = Date.now();
    const e = await client.result("ts-wait", { wait: 1200 })
      .catch((err) => err);
    assert.ok(e instanceof DeadlineExceededError, String(e));
    assert.equal(e.status, 504);
    assert.equal(e.code, "DEADLINE_EXCEEDED");
    assert.ok(Date.now() - t0 >= 1000);
    await assert.rejects(client.result("ts-wait", { wait: 0 }),
                         DeadlineExceededError);
    await client.terminate("ts-wait");
  });

  test("describe of an unknown workflow or run: NotFoundError", T,
       async () => {
    const e = await client.describe("ts-nobody").catch((err) => err);
    assert.ok(e instanceof NotFoundError, String(e));
    assert.equal(e.status, 404);
    assert.equal(e.code, "NOT_FOUND");
    await client.start("ts-run", { workflowType: "gate", taskQueue: "test" });
    await assert.rejects(
      client.describe("ts-run",
                      { runId: "00000000-0000-4000-8000-000000000000" }),
      NotFoundError);
    await client.terminate("ts-run");
  });

  test("the README's createOrder/getOrderStatus, on the food worker", T,
       async () => {
    /* the bodies of the tRPC procedures of README.md, as written there */
    const taskQueue = "durable-food";
    const createOrder = async (input) => {
      const orderId = `order-${randomUUID()}`;
      await client.start(orderId, {
        workflowType: "order", taskQueue,
        input: { productId: input.productId },
      });
      return orderId;
    };
    const getOrderStatus = (orderId) => client.query(orderId, "getStatus");

    const orderId = await createOrder({ productId: 1 });
    const stateIs = (want) => async () =>
      (await getOrderStatus(orderId)).state === want;
    await waitUntil(stateIs("Paid"), 20_000, "the order to be paid");
    assert.equal((await getOrderStatus(orderId)).productId, 1);
    await client.signal(orderId, "pickedUp");
    await waitUntil(stateIs("Picked up"), 20_000, "the pick-up");
    await client.signal(orderId, "delivered");
    await waitUntil(stateIs("Delivered"), 20_000, "the delivery");
    const st = await getOrderStatus(orderId);
    assert.ok(st.deliveredAt, JSON.stringify(st));
    const waiting = [];
    for await (const ex of client.listAll({
      query: 'WorkflowType = "order" AND ExecutionStatus = "RUNNING"',
    })) waiting.push(ex.workflowId);
    assert.ok(waiting.includes(orderId)); /* it waits to ask for a rating */
    await client.terminate(orderId, "the test is over");
  });
});
