// types.ts: the shapes of the HTTP API's bodies and answers
// (docs/http-api.md; GET /api/v1/openapi.json describes them too).
export {};
