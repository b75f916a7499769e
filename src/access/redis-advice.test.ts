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

  it("ioredis's words for a ready check without an answer say what happened", () => {
    expect(redisAdvice('redis://redis:6379', 'reconnecting', new Error('Command timed out'))).toBe(
      'Redis did not answer in time (Command timed out): it is slow or far from here, or this machine is overloaded',
    );
    const retries = new Error('Reached the max retries per request limit (which is 0). Refer to "maxRetriesPerRequest" option for details.');
    expect(redisAdvice('redis://redis:6379', 'reconnecting', retries)).toBe('the connection closed while a command waited for its answer');
  });
});
