// client.ts: DuroClient, one method per route of `duro server`'s HTTP API
// (docs/http-api.md). Each method is one request, except `result` (asks
// again while a long wait lasts), `listAll` (follows the page tokens) and
// `update` (reads the OpenAPI document once to tell "no update route"
// from "no such workflow"). Only the global fetch of Node 18+ is used.

import {
  ClientTimeoutError,
  ConnectionError,
  DeadlineExceededError,
  DuroError,
  errorFromResponse,
  NotFoundError,
  type Operation,
  UpdateNotSupportedError,
  WorkflowFailedError,
} from "./errors.js";
import type {
  CountResult,
  DescribeOptions,
  DuroClientOptions,
  HistoryEvent,
  HistoryOptions,
  HistoryPage,
  Json,
  ListOptions,
  ListPage,
  ResultOptions,
  SignalWithStartOptions,
  SignalWithStartResult,
  StartOptions,
  StartResult,
  TaskQueueStats,
  WorkflowExecution,
} from "./types.js";

/** The server waits at most this long per request (SRV_MAX_WAIT_MS). */
const SERVER_MAX_WAIT_MS = 60_000;

interface RequestOptions {
  body?: Record<string, unknown>;
  params?: Record<string, string | number | boolean | undefined>;
  op?: Operation;
  /** A server-side wait the request asked for: added to timeoutMs. */
  waitMs?: number;
  /** Outside the namespace (e.g. `/api/v1/openapi.json`). */
  absolute?: boolean;
}

export class DuroClient {
  readonly baseUrl: string;
  readonly namespace: string;
  readonly timeoutMs: number;
  private readonly apiToken: string | undefined;
  private readonly fetchFn: typeof fetch;
  private updateRoute: Promise<boolean> | undefined;

  constructor(options: DuroClientOptions) {
    if (!options || typeof options.baseUrl !== "string" || !options.baseUrl)
      throw new TypeError("DuroClient: baseUrl is required");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.namespace = options.namespace ?? "default";
    this.apiToken = options.apiToken;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== "function")
      throw new TypeError("DuroClient: no fetch (Node 18 or later has one)");
    this.fetchFn = f;
  }

  /** Starts a run of `workflowType` with id `workflowId`. */
  async start(workflowId: string, options: StartOptions): Promise<StartResult> {
    const a = await this.request<{ runId: string }>(
      "POST", wf(workflowId), { body: startBody(options) });
    return { workflowId, runId: a.runId };
  }

  /** Sends signal `name` to the current run; answers the run that got it. */
  async signal(workflowId: string, name: string,
               input?: Json): Promise<StartResult> {
    const a = await this.request<{ runId: string }>(
      "POST", wf(workflowId, "signal", name), { body: { input } });
    return { workflowId, runId: a.runId };
  }

  /** Signals the running run, or starts one and signals it, atomically. */
  async signalWithStart(workflowId: string, signalName: string,
                        options: SignalWithStartOptions)
      : Promise<SignalWithStartResult> {
    const body = startBody(options);
    body.signalInput = options.signalInput;
    const a = await this.request<{ runId: string; started: boolean }>(
      "POST", wf(workflowId, "signal-with-start", signalName), { body });
    return { workflowId, runId: a.runId, started: a.started };
  }

  /** Runs query `name` on a worker; answers its result. 504: QueryTimeoutError. */
  async query<T = Json>(workflowId: string, name: string,
                        input?: Json): Promise<T> {
    const a = await this.request<{ result: T }>(
      "POST", wf(workflowId, "query", name), { body: { input }, op: "query" });
    return a.result;
  }

  /**
   * Sends update `name` and answers the handler's result. A validator's
   * rejection or the handler's failure is an InvalidArgumentError (400); a
   * closed workflow a 409; a 504 means the update was not done in time:
   * the same `updateId` again answers with its result (an accepted update
   * is applied once). A server older than updates (no route) throws
   * UpdateNotSupportedError (a NotFoundError), never a plain "not found"
   * that would read as an unknown workflow.
   */
  async update<T = Json>(workflowId: string, name: string, input?: Json,
                         options: { updateId?: string } = {}): Promise<T> {
    try {
      const a = await this.request<{ result: T }>(
        "POST", wf(workflowId, "update", name),
        { body: { input, updateId: options.updateId }, op: "update" });
      return a.result;
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      let hasRoute: boolean;
      try {
        hasRoute = await this.hasUpdateRoute();
      } catch {
        throw e; /* the document could not be read: the first error says more */
      }
      if (!hasRoute)
        throw new UpdateNotSupportedError(
          e.status, e.code,
          "this duro server has no update route: it is older than workflow " +
            `updates (server said: ${e.message})`, e.body);
      throw e;
    }
  }

  /** Asks the run to cancel; `alreadyRequested` when it had been asked. */
  async cancel(workflowId: string,
               reason?: string): Promise<{ alreadyRequested: boolean }> {
    const a = await this.request<{ alreadyRequested: boolean }>(
      "POST", wf(workflowId, "cancel"), { body: { reason } });
    return { alreadyRequested: a.alreadyRequested };
  }

  /** Closes the run at once as TERMINATED. */
  async terminate(workflowId: string, reason?: string): Promise<void> {
    await this.request("POST", wf(workflowId, "terminate"),
                       { body: { reason } });
  }

  /** The describe object of the current run, or of the run `runId` names. */
  describe(workflowId: string,
           options: DescribeOptions = {}): Promise<WorkflowExecution> {
    return this.request<WorkflowExecution>(
      "GET", wf(workflowId), { params: { runId: options.runId } });
  }

  /**
   * Waits for the run to close and answers its result when it COMPLETED;
   * throws WorkflowFailedError when it closed otherwise (the describe object
   * is in `error.execution`), DeadlineExceededError when `wait` ran out.
   */
  async result<T = Json>(workflowId: string,
                         options: ResultOptions = {}): Promise<T> {
    const ex = await this.resultExecution(workflowId, options);
    if (ex.status !== "COMPLETED") throw new WorkflowFailedError(ex);
    return ex.result as T;
  }

  /** As `result`, but answers the closed run's describe object, any status. */
  async resultExecution(workflowId: string,
                        options: ResultOptions = {})
      : Promise<WorkflowExecution> {
    const wait = options.wait ?? Infinity;
    if (!(wait >= 0)) throw new TypeError("result: wait must be >= 0");
    const deadline = Date.now() + wait;
    for (;;) {
      const slice = Math.max(
        0, Math.min(SERVER_MAX_WAIT_MS, Math.ceil(deadline - Date.now())));
      try {
        return await this.request<WorkflowExecution>(
          "GET", wf(workflowId, "result"),
          { params: { wait: `${slice}ms` }, waitMs: slice });
      } catch (e) {
        if (!(e instanceof DeadlineExceededError) || Date.now() >= deadline)
          throw e;
      }
    }
  }

  /** One page of the run's history, oldest first. */
  history(workflowId: string,
          options: HistoryOptions = {}): Promise<HistoryPage> {
    const waitMs = options.waitNewEvent
      ? Math.min(SERVER_MAX_WAIT_MS, durationMs(options.wait) ?? 30_000)
      : 0;
    return this.request<HistoryPage>("GET", wf(workflowId, "history"), {
      params: {
        runId: options.runId,
        pageSize: options.pageSize,
        nextPageToken: options.nextPageToken,
        waitNewEvent: options.waitNewEvent ? true : undefined,
        wait: typeof options.wait === "number"
          ? `${options.wait}ms` /* a bare number is seconds to the server */
          : options.wait,
      },
      waitMs,
    });
  }

  /**
   * Every event of the run, oldest first, page after page. With `follow`,
   * keeps long-polling after the last event and ends once the run has
   * closed and its last event was yielded (Temporal's fetchHistory, and
   * `duro workflow history --follow`).
   */
  async *historyEvents(workflowId: string,
                       options: Omit<HistoryOptions, "waitNewEvent"> & {
                         follow?: boolean;
                       } = {})
      : AsyncGenerator<HistoryEvent, void, undefined> {
    const { follow, ...rest } = options;
    let token = rest.nextPageToken;
    for (;;) {
      const page: HistoryPage = await this.history(workflowId, {
        ...rest, nextPageToken: token, waitNewEvent: follow ? true : undefined,
      });
      yield* page.events;
      /* without follow a token means "more now"; with it, "open run" */
      if (!page.nextPageToken) return;
      token = page.nextPageToken;
    }
  }

  /** One page of executions, most recent first. */
  list(options: ListOptions = {}): Promise<ListPage> {
    return this.request<ListPage>("GET", "/workflows", {
      params: {
        query: options.query,
        pageSize: options.pageSize,
        nextPageToken: options.nextPageToken,
      },
    });
  }

  /** Every execution the query matches, following the page tokens. */
  async *listAll(options: ListOptions = {})
      : AsyncGenerator<WorkflowExecution, void, undefined> {
    let token = options.nextPageToken;
    for (;;) {
      const page = await this.list({ ...options, nextPageToken: token });
      yield* page.executions;
      if (!page.nextPageToken) return;
      token = page.nextPageToken;
    }
  }

  /** How many executions the query matches. */
  async count(query?: string): Promise<CountResult> {
    const a = await this.request<CountResult>(
      "GET", "/workflow-count", { params: { query } });
    return { count: a.count };
  }

  /** Backlog, pending and consumers of a task queue's two streams. */
  taskQueue(name: string): Promise<TaskQueueStats> {
    return this.request<TaskQueueStats>(
      "GET", "/task-queues/" + encodeURIComponent(name));
  }

  /** hasUpdateRoute: whether the server's OpenAPI document has an update route. */
  private hasUpdateRoute(): Promise<boolean> {
    this.updateRoute ??= this.request<{ paths?: Record<string, unknown> }>(
      "GET", "/api/v1/openapi.json", { absolute: true })
      .then((doc) => Object.keys(doc.paths ?? {})
        .some((p) => p.includes("/update/")))
      .catch((e: unknown) => {
        this.updateRoute = undefined; /* ask again next time */
        throw e;
      });
    return this.updateRoute;
  }

  private async request<T>(method: string, path: string,
                           o: RequestOptions = {}): Promise<T> {
    const base = o.absolute
      ? this.baseUrl
      : `${this.baseUrl}/api/v1/namespaces/${encodeURIComponent(this.namespace)}`;
    const url = new URL(base + path);
    for (const [k, v] of Object.entries(o.params ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.apiToken) headers.Authorization = `Bearer ${this.apiToken}`;
    let body: string | undefined;
    if (o.body) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(o.body);
    }
    const limit = this.timeoutMs + (o.waitMs ?? 0);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), limit);
    let status: number;
    let text: string;
    try {
      const res = await this.fetchFn(url, {
        method, headers, body, signal: abort.signal,
      });
      status = res.status;
      text = await res.text();
    } catch (e) {
      if (abort.signal.aborted)
        throw new ClientTimeoutError(
          0, "CLIENT_TIMEOUT",
          `${method} ${url.pathname}: no answer within ${limit}ms`,
          undefined, { cause: e });
      throw new ConnectionError(
        0, "CONNECTION_FAILED",
        `${method} ${url.pathname}: ${errorText(e)}`, undefined, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    if (status < 200 || status > 299)
      throw errorFromResponse(status, text, o.op ?? "other");
    if (!text) return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new DuroError(status, "MALFORMED_ANSWER",
                          `${method} ${url.pathname}: the answer is not JSON`,
                          undefined, { cause: e });
    }
  }
}

/** wf: the path of a workflow, or of one of its actions. */
function wf(workflowId: string, action?: string, name?: string): string {
  if (typeof workflowId !== "string" || !workflowId)
    throw new TypeError("workflowId must be a non-empty string");
  if (workflowId.includes("/")) /* the server splits the path before decoding */
    throw new TypeError(
      `workflowId ${JSON.stringify(workflowId)}: an id holding "/" cannot ` +
        "be reached through the HTTP API");
  let p = "/workflows/" + encodeURIComponent(workflowId);
  if (action) p += "/" + action;
  if (name !== undefined) p += "/" + encodeURIComponent(name);
  return p;
}

function startBody(o: StartOptions): Record<string, unknown> {
  if (!o || typeof o !== "object")
    throw new TypeError("start options (workflowType, taskQueue) are required");
  return {
    workflowType: o.workflowType,
    taskQueue: o.taskQueue,
    input: o.input,
    idReusePolicy: o.idReusePolicy,
    executionTimeout: o.executionTimeout,
    runTimeout: o.runTimeout,
    taskTimeout: o.taskTimeout,
    searchAttributes: o.searchAttributes,
    memo: o.memo,
  };
}

/** durationMs reads the client-side forms of a duration ("30s", "500ms", 5). */
function durationMs(d: number | string | undefined): number | undefined {
  if (d === undefined) return undefined;
  if (typeof d === "number") return d;
  const m = /^(\d+)(ms|s|m)?$/.exec(d.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2] === "ms" ? n : m[2] === "m" ? n * 60_000 : n * 1000;
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}
