export { DuroClient } from "./client.js";
export { ClientTimeoutError, ConflictError, ConnectionError, DeadlineExceededError, DuroError, InvalidArgumentError, NotFoundError, PayloadTooLargeError, QueryTimeoutError, UnauthenticatedError, UnavailableError, UpdateNotSupportedError, WorkflowAlreadyStartedError, WorkflowFailedError, WorkflowNotRunningError, } from "./errors.js";
export type { ErrorBody } from "./errors.js";
export type { CountResult, DescribeOptions, Duration, DuroClientOptions, HistoryEvent, HistoryOptions, HistoryPage, IdReusePolicy, Json, ListOptions, ListPage, PendingActivity, QueueStats, ResultOptions, SignalWithStartOptions, SignalWithStartResult, StartOptions, StartResult, TaskQueueStats, WorkflowExecution, WorkflowStatus, } from "./types.js";
