/** Any JSON value: inputs and results are stored exactly as sent. */
export declare type Json = null | boolean | number | string | Json[] | {
    [key: string]: Json;
};
/** A duration: milliseconds, or a string the server reads such as `"30s"`. */
export declare type Duration = number | string;
export declare type IdReusePolicy = "AllowDuplicate" | "AllowDuplicateFailedOnly" | "RejectDuplicate" | "TerminateIfRunning";
/** A run's status; CONTINUED_AS_NEW: an older run of a chain, which went
 * on as its `continuedAsRunId`. */
export declare type WorkflowStatus = "RUNNING" | "COMPLETED" | "FAILED" | "CANCELED" | "TERMINATED" | "TIMED_OUT" | "CONTINUED_AS_NEW";
export interface DuroClientOptions {
    /** e.g. `http://127.0.0.1:8233` (where `duro server` listens). */
    baseUrl: string;
    /** Only `default` exists today. */
    namespace?: string;
    /** Sent as `Authorization: Bearer <token>` (`--api-token-file`). */
    apiToken?: string;
    /** Per request, beyond any server-side wait it asked for (default 30s). */
    timeoutMs?: number;
    /** A fetch to use instead of the global one (Node 18+ has one). */
    fetch?: typeof fetch;
}
export interface StartOptions {
    workflowType: string;
    taskQueue: string;
    input?: Json;
    idReusePolicy?: IdReusePolicy;
    /** The whole workflow's limit, continue-as-new runs included. */
    executionTimeout?: Duration;
    /** One run's limit. */
    runTimeout?: Duration;
    taskTimeout?: Duration;
    /** Registered custom search attributes, each of its type (else 400
     * naming it). Sent only when given. */
    searchAttributes?: Record<string, Json>;
    /** Any object, shown by describe and list. Sent only when given. */
    memo?: Record<string, Json>;
}
export interface SignalWithStartOptions extends StartOptions {
    /** The signal's input (the start's is `input`). */
    signalInput?: Json;
}
export interface PendingActivity {
    seq: number;
    name: string;
    attempt: number;
    state: string;
    lastFailure?: Json;
    lastHeartbeat?: Json;
    [key: string]: unknown;
}
/** The describe object (also each row of a list, with fewer members). */
export interface WorkflowExecution {
    workflowId: string;
    runId: string;
    workflowType: string;
    taskQueue: string;
    status: WorkflowStatus;
    startTime?: string;
    closeTime?: string | null;
    historyLength?: number;
    input?: Json;
    result?: Json;
    failure?: Json;
    workflowTask?: Json;
    pendingActivities?: PendingActivity[];
    searchAttributes?: Record<string, Json>;
    memo?: Record<string, Json>;
    /** The run this one continued from (continue-as-new), when it did. */
    continuedFromRunId?: string;
    /** The run this one continued as (status CONTINUED_AS_NEW), when known. */
    continuedAsRunId?: string;
    [key: string]: unknown;
}
export interface StartResult {
    workflowId: string;
    runId: string;
}
export interface SignalWithStartResult extends StartResult {
    /** true when this call started a new run. */
    started: boolean;
}
export interface ResultOptions {
    /**
     * How long to wait for the run to close, in milliseconds: `0` answers at
     * once, `Infinity` (the default) waits for ever. The server waits at most
     * 60s per request; the client asks again until the time is up, then
     * throws DeadlineExceededError.
     */
    wait?: number;
}
export interface DescribeOptions {
    /**
     * A run of the id, current or older (of a reused id or a continue-as-new
     * chain: its input, result or failure and chain links, from its
     * history); 404 when the id has no such run.
     */
    runId?: string;
}
export interface HistoryOptions {
    runId?: string;
    /** 1..1000, default 100. */
    pageSize?: number;
    nextPageToken?: string;
    /** Long-poll for the next event after the token. */
    waitNewEvent?: boolean;
    /** How long a long poll waits (default 30s, at most 60s). */
    wait?: Duration;
}
export interface HistoryEvent {
    eventId: number;
    type: string;
    time: string;
    data?: Json;
    [key: string]: unknown;
}
export interface HistoryPage {
    events: HistoryEvent[];
    nextPageToken?: string | null;
}
export interface ListOptions {
    /** e.g. `ExecutionStatus = "RUNNING" AND WorkflowType = "order"`. */
    query?: string;
    pageSize?: number;
    nextPageToken?: string;
}
export interface ListPage {
    executions: WorkflowExecution[];
    nextPageToken?: string | null;
}
export interface CountResult {
    /** Every execution the query matches. */
    count: number;
}
export interface QueueStats {
    backlog: number;
    pending: number;
    consumers: number;
    activeConsumers: number;
}
export interface TaskQueueStats {
    taskQueue: string;
    workflowTasks: QueueStats;
    activityTasks: QueueStats;
}
