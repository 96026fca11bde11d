import type { WorkflowExecution } from "./types.js";
/** The server's JSON error body, as parsed. */
export interface ErrorBody {
    code?: string;
    message?: string;
    [key: string]: unknown;
}
export declare class DuroError extends Error {
    /** HTTP status; 0 when no answer came (network error, client timeout). */
    readonly status: number;
    /** The server's code, e.g. `NOT_FOUND`, `ALREADY_STARTED`. */
    readonly code: string;
    /** The error body as the server sent it, when it was JSON. */
    readonly body: ErrorBody | undefined;
    constructor(status: number, code: string, message: string, body?: ErrorBody, options?: {
        cause?: unknown;
    });
}
/** 400 `INVALID_ARGUMENT` or `INVALID_JSON`: the message names the field. */
export declare class InvalidArgumentError extends DuroError {
}
/** 401 `UNAUTHENTICATED`: no token, or a wrong one (see `apiToken`). */
export declare class UnauthenticatedError extends DuroError {
}
/** 404 `NOT_FOUND`: unknown workflow, run, namespace or route. */
export declare class NotFoundError extends DuroError {
}
/**
 * 404 from `update`: the server has no update route (workflow updates do
 * not exist in Duro yet), as opposed to an unknown workflow.
 */
export declare class UpdateNotSupportedError extends NotFoundError {
}
/** 409 `ALREADY_STARTED`: the id-reuse policy refused a new run. */
export declare class WorkflowAlreadyStartedError extends DuroError {
}
/** 409 `NOT_RUNNING`: signal, cancel or terminate of a closed run. */
export declare class WorkflowNotRunningError extends DuroError {
}
/** 409 `STALE` and other conflicts. */
export declare class ConflictError extends DuroError {
}
/** 413 `PAYLOAD_TOO_LARGE`: a body or an input over the server's limit. */
export declare class PayloadTooLargeError extends DuroError {
}
/** 503 `UNAVAILABLE` / `REDIS_AUTH`: Redis unreachable or refusing; retry. */
export declare class UnavailableError extends DuroError {
}
/** 504 `DEADLINE_EXCEEDED`: a result or history wait that ran out. */
export declare class DeadlineExceededError extends DuroError {
}
/** 504 from `query` or `update`: no worker answered in time. */
export declare class QueryTimeoutError extends DeadlineExceededError {
}
/** No answer within the client's `timeoutMs` (status 0). */
export declare class ClientTimeoutError extends DuroError {
}
/** The server could not be reached at all (status 0). */
export declare class ConnectionError extends DuroError {
}
/**
 * Thrown by `result` when the run closed without completing (`FAILED`,
 * `CANCELED`, `TERMINATED`, `TIMED_OUT`): `execution` is the describe
 * object, with `failure` when the workflow failed.
 */
export declare class WorkflowFailedError extends DuroError {
    readonly execution: WorkflowExecution;
    readonly workflowStatus: string;
    constructor(execution: WorkflowExecution);
}
/** Which operation failed: `query`/`update` turn 504 into QueryTimeoutError. */
export declare type Operation = "query" | "update" | "other";
/**
 * errorFromResponse builds the error for a non-2xx answer. It decides by
 * status and the server's code, never by the message text.
 */
export declare function errorFromResponse(status: number, text: string, op: Operation): DuroError;
