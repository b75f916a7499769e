import { describe, expect, it } from 'vitest';
import { reasonAfter, redisAdvice, redisRefusalAdvice } from './redis-advice.js';

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

describe('what Redis says when, connected, it refuses a count', () => {
  // Redis 7's own replies, as ioredis rejects with them (an error inside the script ends with its hash and line).
  const replies = {
    oom: "OOM command not allowed when used memory > 'maxmemory'. script: b08a33b342ab10cd56430d0409d3d9b6a6aa54df, on @user_script:26.",
    misconf:
      "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error. script: b08a33b342ab10cd56430d0409d3d9b6a6aa54df, on @user_script:4.",
    noperm: "NOPERM this user has no permissions to run the 'evalsha' command",
    busy: 'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
    loading: 'LOADING Redis is loading the dataset in memory',
    renamed: "ERR unknown command 'evalsha', with args beginning with: '33e740fa853a3a170845acf43d2363387c6cb5fe' '1' 'rate_limit:key_1' ",
  };
  const advice = (m: string) => redisRefusalAdvice(new Error(m));

  it('each names the cause and the setting or command that ends it, without the script hash', () => {
    expect(advice(replies.oom)).toMatch(/^Redis is full \(OOM command not allowed when used memory > 'maxmemory'\): .*raise maxmemory, or set maxmemory-policy to volatile-lru/);
    expect(advice(replies.misconf)).toMatch(/^Redis refuses writes because its last RDB snapshot failed \(MISCONF, stop-writes-on-bgsave-error\): Redis's log says why/);
    expect(advice(replies.noperm)).toMatch(/^REDIS_URL's user may not run the rate limiter's commands \(NOPERM .*'evalsha' command\): grant them with ACL SETUSER <user> \+evalsha/);
    expect(advice(replies.busy)).toMatch(/^Redis is running a long script .*SCRIPT KILL/);
    expect(advice(replies.loading)).toMatch(/^Redis is loading its data set into memory after a restart/);
    expect(advice(replies.renamed)).toMatch(/^Redis does not take Lua scripts \(ERR unknown command 'evalsha'.*rename-command\)/);
    for (const m of Object.values(replies)) expect(advice(m)).not.toMatch(/user_script|[0-9a-f]{40}/);
  });

  it('connected with the ready check pending (a Redis loading its dump after a restart) says so, not the error from before it was up', () => {
    expect(redisAdvice('redis://redis:6379', 'connect', undefined)).toMatch(/^connected, but Redis has not said it is ready: one loading its data set after a restart \(LOADING\)/);
    expect(redisAdvice('redis://redis:6379', 'reconnecting', undefined)).toBe('the connection is reconnecting');
  });

  it('a timeout says what it means; anything else is passed on as Redis said it', () => {
    expect(advice('Command timed out')).toMatch(/^Redis did not answer in time \(Command timed out\): it is slow/);
    expect(advice('ERR something new')).toBe('ERR something new');
  });
});
