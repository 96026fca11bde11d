// index.ts: the package's entry point, @duro/client.
export { DuroClient } from "./client.js";
export { ClientTimeoutError, ConflictError, ConnectionError, DeadlineExceededError, DuroError, InvalidArgumentError, NotFoundError, PayloadTooLargeError, QueryTimeoutError, UnauthenticatedError, UnavailableError, UpdateNotSupportedError, WorkflowAlreadyStartedError, WorkflowFailedError, WorkflowNotRunningError, } from "./errors.js";
