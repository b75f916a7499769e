/** Why a TLS connection was refused, by Node's error code, in the terms the fix is in. */
export type TlsProblem = 'untrusted' | 'host-name' | 'dates' | 'protocol';

const PROBLEMS: Record<string, TlsProblem> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted',
  CERT_UNTRUSTED: 'untrusted',
  CERT_SIGNATURE_FAILURE: 'untrusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'host-name',
  CERT_HAS_EXPIRED: 'dates',
  CERT_NOT_YET_VALID: 'dates',
  ERR_SSL_WRONG_VERSION_NUMBER: 'protocol',
  EPROTO: 'protocol',
};

/** The TLS codes tlsProblem knows: a connection refused for one of them never reached the server's protocol. */
export const TLS_ERROR_CODES: ReadonlySet<string> = new Set(Object.keys(PROBLEMS));

export function tlsProblem(e: unknown): TlsProblem | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? PROBLEMS[code] : undefined;
}
