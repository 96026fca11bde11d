// usage.ts: type-checked (never run) by dist.test.js against dist/*.d.ts,
// so that the published declarations accept the README's code and catch
// its mistakes.
import {
  DuroClient,
  DuroError,
  QueryTimeoutError,
  WorkflowFailedError,
  type WorkflowExecution,
} from "../dist/index.js";

type OrderStatus = {
  state: "Charging card" | "Paid" | "Picked up" | "Delivered" | "Refunding";
  deliveredAt: string | null;
  productId: number;
};

const duro = new DuroClient({ baseUrl: "http://127.0.0.1:8233",
                              apiToken: undefined, timeoutMs: 5000 });

export async function createOrder(input: { productId: number }) {
  const orderId = `order-${input.productId}`;
  const { runId }: { runId: string } = await duro.start(orderId, {
    workflowType: "order",
    taskQueue: "durable-food",
    input: { productId: input.productId },
    idReusePolicy: "RejectDuplicate",
    executionTimeout: "10m",
  });
  return { orderId, runId };
}

export async function getOrderStatus(orderId: string): Promise<OrderStatus> {
  try {
    return await duro.query<OrderStatus>(orderId, "getStatus");
  } catch (e) {
    if (e instanceof QueryTimeoutError) throw new Error("no worker");
    if (e instanceof DuroError && e.status === 404) throw e;
    throw e;
  }
}

// the run after an older run of a continue-as-new chain
export async function nextRun(id: string, runId: string):
    Promise<string | undefined> {
  const older = await duro.describe(id, { runId });
  if (older.status !== "CONTINUED_AS_NEW") return undefined;
  const before: string | undefined = older.continuedFromRunId;
  void before;
  return older.continuedAsRunId;
}

export async function waiting(): Promise<WorkflowExecution[]> {
  const out: WorkflowExecution[] = [];
  for await (const ex of duro.listAll({ query: 'WorkflowType = "order"' }))
    out.push(ex);
  const { count }: { count: number } = await duro.count();
  void count;
  return out;
}

export async function finish(orderId: string): Promise<unknown> {
  await duro.signal(orderId, "pickedUp");
  const h = await duro.history(orderId, { pageSize: 10, waitNewEvent: true });
  void h.events[0]?.eventId;
  for await (const ev of duro.historyEvents(orderId, { follow: true }))
    void ev.type;
  try {
    return await duro.result<{ rating: string }>(orderId, { wait: 30_000 });
  } catch (e) {
    if (e instanceof WorkflowFailedError) return e.execution.failure;
    throw e;
  }
}

// @ts-expect-error: a start needs its task queue
void duro.start("x", { workflowType: "order" });
// @ts-expect-error: an unknown id-reuse policy
void duro.start("x", { workflowType: "o", taskQueue: "q", idReusePolicy: "Sometimes" });
