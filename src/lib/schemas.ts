// Reply schemas shared by every feature's routes; `ErrorBody` is registered by the server.

const errorBody = { $ref: 'ErrorBody#' } as const;

/** `{status: ErrorBody}` for each status a route can answer with an error. */
export function errorReplies<S extends number>(...statuses: S[]): Record<S, typeof errorBody> {
  return Object.fromEntries(statuses.map((s) => [s, errorBody])) as Record<S, typeof errorBody>;
}
