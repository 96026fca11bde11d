// errors.ts: the errors a DuroClient throws. Every failed call throws a
// DuroError (or a subclass, so `instanceof` picks the cases worth handling)
// carrying the HTTP status and the server's error code and message from its
// JSON body `{"code": "...", "message": "..."}` (docs/http-api.md, "Errors").
// Failures that never reached the server have status 0.

import type { WorkflowExecution } from "./types.js";

/** The server's JSON error body, as parsed. */
export interface ErrorBody {
  code?: string;
  message?: string;
  [key: string]: unknown;
}

export class DuroError extends Error {
  /** HTTP status; 0 when no answer came (network error, client timeout). */
  readonly status: number;
  /** The server's code, e.g. `NOT_FOUND`, `ALREADY_STARTED`. */
  readonly code: string;
  /** The error body as the server sent it, when it was JSON. */
  readonly body: ErrorBody | undefined;

  constructor(status: number, code: string, message: string,
              body?: ErrorBody, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** 400 `INVALID_ARGUMENT` or `INVALID_JSON`: the message names the field. */
export class InvalidArgumentError extends DuroError {}

/** 401 `UNAUTHENTICATED`: no token, or a wrong one (see `apiToken`). */
export class UnauthenticatedError extends DuroError {}

/** 404 `NOT_FOUND`: unknown workflow, run, namespace or route. */
export class NotFoundError extends DuroError {}

/**
 * 404 from `update`: the server has no update route (workflow updates do
 * not exist in Duro yet), as opposed to an unknown workflow.
 */
export class UpdateNotSupportedError extends NotFoundError {}

/** 409 `ALREADY_STARTED`: the id-reuse policy refused a new run. */
export class WorkflowAlreadyStartedError extends DuroError {}

/** 409 `NOT_RUNNING`: signal, cancel or terminate of a closed run. */
export class WorkflowNotRunningError extends DuroError {}

/** 409 `STALE` and other conflicts. */
export class ConflictError extends DuroError {}

/** 413 `PAYLOAD_TOO_LARGE`: a body or an input over the server's limit. */
export class PayloadTooLargeError extends DuroError {}

/** 503 `UNAVAILABLE` / `REDIS_AUTH`: Redis unreachable or refusing; retry. */
export class UnavailableError extends DuroError {}

/** 504 `DEADLINE_EXCEEDED`: a result or history wait that ran out. */
export class DeadlineExceededError extends DuroError {}

/** 504 from `query` or `update`: no worker answered in time. */
export class QueryTimeoutError extends DeadlineExceededError {}

/** No answer within the client's `timeoutMs` (status 0). */
export class ClientTimeoutError extends DuroError {}

/** The server could not be reached at all (status 0). */
export class ConnectionError extends DuroError {}

/**
 * Thrown by `result` when the run closed without completing (`FAILED`,
 * `CANCELED`, `TERMINATED`, `TIMED_OUT`): `execution` is the describe
 * object, with `failure` when the workflow failed.
 */
export class WorkflowFailedError extends DuroError {
  readonly execution: WorkflowExecution;
  readonly workflowStatus: string;

  constructor(execution: WorkflowExecution) {
    const failure = execution.failure;
    const why = failure && typeof failure === "object"
      ? JSON.stringify(failure)
      : execution.status;
    super(200, "WORKFLOW_" + execution.status,
          `workflow ${execution.workflowId} run ${execution.runId} ` +
          `closed ${execution.status}: ${why}`);
    this.execution = execution;
    this.workflowStatus = execution.status;
  }
}

/** Which operation failed: `query`/`update` turn 504 into QueryTimeoutError. */
export type Operation = "query" | "update" | "other";

/**
 * errorFromResponse builds the error for a non-2xx answer. It decides by
 * status and the server's code, never by the message text.
 */
export function errorFromResponse(status: number, text: string,
                                  op: Operation): DuroError {
  let body: ErrorBody | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      body = parsed as ErrorBody;
  } catch {
    body = undefined; /* a proxy's HTML page, say: keep the text */
  }
  const code = typeof body?.code === "string" ? body.code : `HTTP_${status}`;
  const message = typeof body?.message === "string"
    ? body.message
    : `HTTP ${status}: ${text.slice(0, 200)}`;
  const E = classFor(status, code, op);
  return new E(status, code, message, body);
}

type ErrorClass = new (status: number, code: string, message: string,
                       body?: ErrorBody) => DuroError;

function classFor(status: number, code: string, op: Operation): ErrorClass {
  switch (status) {
    case 400: return InvalidArgumentError;
    case 401: return UnauthenticatedError;
    case 404: return NotFoundError;
    case 409:
      if (code === "ALREADY_STARTED") return WorkflowAlreadyStartedError;
      if (code === "NOT_RUNNING") return WorkflowNotRunningError;
      return ConflictError;
    case 413: return PayloadTooLargeError;
    case 503: return UnavailableError;
    case 504:
      return op === "other" ? DeadlineExceededError : QueryTimeoutError;
    default: return DuroError;
  }
}
