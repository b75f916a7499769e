/** A caller's x-request-id that is kept (else one is made): short, and safe in a header, a log line and JSON. */
const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The caller's x-request-id when it is sane, so traces join across services; else undefined. */
export function callerRequestId(given: string | string[] | undefined): string | undefined {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : undefined;
}
