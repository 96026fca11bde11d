import type { CountResult, DescribeOptions, DuroClientOptions, HistoryEvent, HistoryOptions, HistoryPage, Json, ListOptions, ListPage, ResultOptions, SignalWithStartOptions, SignalWithStartResult, StartOptions, StartResult, TaskQueueStats, WorkflowExecution } from "./types.js";
export declare class DuroClient {
    readonly baseUrl: string;
    readonly namespace: string;
    readonly timeoutMs: number;
    private readonly apiToken;
    private readonly fetchFn;
    private updateRoute;
    constructor(options: DuroClientOptions);
    /** Starts a run of `workflowType` with id `workflowId`. */
    start(workflowId: string, options: StartOptions): Promise<StartResult>;
    /** Sends signal `name` to the current run; answers the run that got it. */
    signal(workflowId: string, name: string, input?: Json): Promise<StartResult>;
    /** Signals the running run, or starts one and signals it, atomically. */
    signalWithStart(workflowId: string, signalName: string, options: SignalWithStartOptions): Promise<SignalWithStartResult>;
    /** Runs query `name` on a worker; answers its result. 504: QueryTimeoutError. */
    query<T = Json>(workflowId: string, name: string, input?: Json): Promise<T>;
    /**
     * Sends update `name` and answers the handler's result. A validator's
     * rejection or the handler's failure is an InvalidArgumentError (400); a
     * closed workflow a 409; a 504 means the update was not done in time:
     * the same `updateId` again answers with its result (an accepted update
     * is applied once). A server older than updates (no route) throws
     * UpdateNotSupportedError (a NotFoundError), never a plain "not found"
     * that would read as an unknown workflow.
     */
    update<T = Json>(workflowId: string, name: string, input?: Json, options?: {
        updateId?: string;
    }): Promise<T>;
    /** Asks the run to cancel; `alreadyRequested` when it had been asked. */
    cancel(workflowId: string, reason?: string): Promise<{
        alreadyRequested: boolean;
    }>;
    /** Closes the run at once as TERMINATED. */
    terminate(workflowId: string, reason?: string): Promise<void>;
    /** The describe object of the current run, or of the run `runId` names. */
    describe(workflowId: string, options?: DescribeOptions): Promise<WorkflowExecution>;
    /**
     * Waits for the run to close and answers its result when it COMPLETED;
     * throws WorkflowFailedError when it closed otherwise (the describe object
     * is in `error.execution`), DeadlineExceededError when `wait` ran out.
     */
    result<T = Json>(workflowId: string, options?: ResultOptions): Promise<T>;
    /** As `result`, but answers the closed run's describe object, any status. */
    resultExecution(workflowId: string, options?: ResultOptions): Promise<WorkflowExecution>;
    /** One page of the run's history, oldest first. */
    history(workflowId: string, options?: HistoryOptions): Promise<HistoryPage>;
    /**
     * Every event of the run, oldest first, page after page. With `follow`,
     * keeps long-polling after the last event and ends once the run has
     * closed and its last event was yielded (Temporal's fetchHistory, and
     * `duro workflow history --follow`).
     */
    historyEvents(workflowId: string, options?: Omit<HistoryOptions, "waitNewEvent"> & {
        follow?: boolean;
    }): AsyncGenerator<HistoryEvent, void, undefined>;
    /** One page of executions, most recent first. */
    list(options?: ListOptions): Promise<ListPage>;
    /** Every execution the query matches, following the page tokens. */
    listAll(options?: ListOptions): AsyncGenerator<WorkflowExecution, void, undefined>;
    /** How many executions the query matches. */
    count(query?: string): Promise<CountResult>;
    /** Backlog, pending and consumers of a task queue's two streams. */
    taskQueue(name: string): Promise<TaskQueueStats>;
    /** hasUpdateRoute: whether the server's OpenAPI document has an update route. */
    private hasUpdateRoute;
    private request;
}
