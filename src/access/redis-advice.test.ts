import { describe, expect, it } from 'vitest';
import { reasonAfter, redisAdvice } from './redis-advice.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('the reason a Redis connection gives', () => {
  const alert = withCode('C0:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:rec_layer_s3.c:1601:SSL alert number 116', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
  const reset = withCode('read ECONNRESET', 'ECONNRESET');

  it('a reset or broken pipe after a TLS alert keeps the alert, which says why', () => {
    expect(reasonAfter(alert, reset)).toBe(alert);
    expect(reasonAfter(alert, withCode('write EPIPE', 'EPIPE'))).toBe(alert);
    expect(redisAdvice('rediss://redis:6380', 'reconnecting', reasonAfter(alert, reset))).toMatch(/^Redis asks for a client certificate and was sent none \(TLS alert: certificate required\)/);
  });

  it('anything else replaces it: a refused connection, another alert, a reset after a reset', () => {
    const refused = withCode('connect ECONNREFUSED 127.0.0.1:6380', 'ECONNREFUSED');
    expect(reasonAfter(alert, refused)).toBe(refused);
    const unknownCa = withCode('tlsv1 alert unknown ca', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    expect(reasonAfter(alert, unknownCa)).toBe(unknownCa);
    const second = withCode('read ECONNRESET', 'ECONNRESET');
    expect(reasonAfter(reset, second)).toBe(second);
    expect(reasonAfter(undefined, reset)).toBe(reset);
  });
});
