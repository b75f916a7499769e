import { errorMessage } from '../lib/errors.js';
import { tlsProblem } from '../lib/tls-errors.js';

/** Connected and waiting for Redis to say it is ready, which one loading its data set after a restart does only once loaded. */
const LOADING_WAIT =
  'connected, but Redis has not said it is ready: one loading its data set after a restart (LOADING) answers nothing else until it has loaded, which takes seconds to minutes with a large dump; checks are answered once it is ready';

/** ioredis's terse words for a command that got no answer within its timeout, with what they mean. */
const TIMED_OUT = 'Redis did not answer in time (Command timed out): it is slow or far from here, or this machine is overloaded';

/**
 * Why a Redis connection is not ready, from ioredis's last error, with what to do next. ioredis
 * retries on its own and only emits each failure, so without this a certificate the process
 * does not trust read as "cannot reach Redis within 5 s".
 */
export function redisAdvice(url: string, status: string, lastError: unknown, sentinels?: { host: string; port: number }[], sentinelFailure?: Error): string {
  const tls = url.startsWith('rediss:');
  // ioredis says "All sentinels are unreachable" whether none answered (it adds their last error) or all answered without knowing the name.
  const unresolved = sentinels && /All sentinels are unreachable/.exec(errorMessage(lastError));
  if (unresolved) {
    const name = decodeURIComponent(new URL(url).hostname);
    const listed = `REDIS_SENTINELS (${sentinels.map((s) => `${s.host}:${s.port}`).join(', ')})`;
    const last = / Last error: (.*)$/.exec(errorMessage(lastError))?.[1]?.replace(/\.$/, '');
    // Older Sentinels answer an unknown name with nil, newer ones with "No such master with that name".
    if (!last || /No such master/i.test(last))
      return `the Sentinels of ${listed} know no primary named ${JSON.stringify(name)}: REDIS_URL's host must be the name in their configuration (sentinel monitor NAME …)`;
    if (/\b(NOAUTH|WRONGPASS)\b/.test(last))
      return `the Sentinels of ${listed} refused the password (${last}): put the password they and Redis take in REDIS_URL (redis://:password@${name}), which is sent to both, or theirs in REDIS_SENTINEL_PASSWORD when it differs`;
    // Why connecting failed, when a look of our own found it (sentinel-probe.ts): a certificate, a refused port.
    if (sentinelFailure) return `cannot reach the Sentinels of ${listed}: ${redisAdvice(url, status, sentinelFailure)}`;
    return `no Sentinel of ${listed} answered (${last}): check that they run and are reachable from here`;
  }
  if (lastError === undefined) {
    // Connected, the ready check (INFO) pending: a Redis loading its data set answers it with loading:1 until it has.
    if (status === 'connect') return LOADING_WAIT;
    return tls && status === 'connecting' ? 'no answer to the TLS handshake: if this Redis does not use TLS, use redis:// instead of rediss://' : `the connection is ${status}`;
  }
  const said = errorMessage(lastError).replace(/\.$/, '');
  const certificate = clientCertificateAdvice(lastError);
  if (certificate) return certificate;
  switch (tlsProblem(lastError)) {
    case 'untrusted':
      return `${said}: its TLS certificate is not signed by a CA this process trusts; set REDIS_TLS_CA_FILE=/path/to/ca.pem, the CA that signed it (or start the process with NODE_EXTRA_CA_CERTS=/path/to/ca.pem)`;
    case 'host-name':
      return `${said}: its TLS certificate was issued for another host name; connect by a name it was issued for`;
    case 'dates':
      return `${said}: its TLS certificate has expired or is not valid yet; renew it (or check this machine's clock)`;
    case 'protocol':
      return `${said}: the TLS handshake failed; ${tls ? 'if this Redis does not use TLS, use redis://' : 'check that the port is Redis'}`;
  }
  if (/\b(NOAUTH|WRONGPASS)\b/.test(said)) {
    const at = sentinels ? decodeURIComponent(new URL(url).hostname) : 'host:6379';
    return `${said}: put Redis's password in REDIS_URL (redis://:password@${at}, or redis://user:password@${at} for an ACL user)`;
  }
  if (!tls && (lastError as { code?: unknown }).code === 'ECONNRESET') {
    return `${said}: Redis closed the connection; if it takes only TLS connections, use rediss://`;
  }
  // ioredis's own words for a ready check that got no answer: the first is terse, the second
  // sends the reader to an option that is not the cause (the connection closed under the command).
  if (said === 'Command timed out') return TIMED_OUT;
  if (/^Reached the max retries per request limit/.test(said)) return 'the connection closed while a command waited for its answer';
  return said;
}

/**
 * The error to keep as the reason after `next`: a reset or broken pipe that follows a TLS alert
 * is the alert's consequence (the server refused, then closed on data it had not read), so it
 * does not replace the alert, which says why.
 */
export function reasonAfter(previous: unknown, next: unknown): unknown {
  const code = (e: unknown) => (e as { code?: unknown } | undefined)?.code;
  const alert = typeof code(previous) === 'string' && /^ERR_SSL_.*ALERT/.test(code(previous) as string);
  return alert && (code(next) === 'ECONNRESET' || code(next) === 'EPIPE') ? previous : next;
}

/** The alerts a TLS server sends about the client's certificate, by Node's error code. */
const CLIENT_CERT_REFUSED = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  // A CA of the same name whose key did not sign it (an issuing CA made anew).
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
]);

/**
 * Redis with TLS asks every client for a certificate unless told not to (tls-auth-clients yes
 * is its default, and Bitnami's chart keeps it). OpenSSL's own text for the refusal is a line of
 * codes and source paths ("…:ssl3_read_bytes:tlsv13 alert certificate required:…"), so the
 * reason is said here with the settings that fix it.
 */
function clientCertificateAdvice(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  const alert = /alert ([a-z ]+?):/.exec(errorMessage(e))?.[1] ?? String(code);
  const issue = "a certificate signed by a CA in Redis's tls-ca-cert-file, valid today";
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED')
    return `Redis asks for a client certificate and was sent none (TLS alert: ${alert}): set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE to ${issue}, or set tls-auth-clients to no or optional in Redis`;
  if (typeof code === 'string' && CLIENT_CERT_REFUSED.has(code)) return `Redis refused the client certificate of REDIS_TLS_CERT_FILE (TLS alert: ${alert}): it must be ${issue}`;
  // TLS 1.2 has no alert of its own for a missing certificate: a Redis that asks for one answers "handshake failure".
  if (code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE')
    return `the TLS handshake failed (TLS alert: ${alert}): if Redis asks for a client certificate (tls-auth-clients), set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE to ${issue}; else Redis and this process share no TLS version or cipher`;
  return undefined;
}

/**
 * Why Redis, connected, refused or did not answer a rate-limit command, with what to do next.
 * Redis's own words for these (OOM, NOPERM) say what happened, not what to change, and an error
 * raised inside the script ends with its hash and line (an unknown command, with its arguments),
 * which mean nothing to an operator.
 */
export function redisRefusalAdvice(e: unknown): string {
  const said = errorMessage(e)
    .replace(/\s*script: [0-9a-f]{40}, on @user_script:\d+\.?$/, '')
    .replace(/, with args beginning with: .*$/, '')
    .replace(/\.$/, '');
  if (/^OOM\b/.test(said))
    return `Redis is full (${said}): its maxmemory-policy (noeviction) refuses new writes once maxmemory is reached; raise maxmemory, or set maxmemory-policy to volatile-lru (modelgate's rate_limit:* keys all expire, two windows after their last use) or allkeys-lru; if other applications share this Redis, their keys may be what fills it`;
  if (/^MISCONF\b/.test(said))
    return `Redis refuses writes because its last RDB snapshot failed (MISCONF, stop-writes-on-bgsave-error): Redis's log says why (its dir full or not writable); fix that, or turn snapshots off (CONFIG SET save "") where Redis need not keep anything across restarts`;
  if (/^NOPERM\b/.test(said))
    return `REDIS_URL's user may not run the rate limiter's commands (${said}): grant them with ACL SETUSER <user> +evalsha +eval +time +hmget +hset +pexpire +del +info ~rate_limit:*`;
  if (/^BUSY\b/.test(said)) return `Redis is running a long script and answers nothing else until it ends (${said}): SCRIPT KILL or FUNCTION KILL stops it`;
  if (/^LOADING\b/.test(said)) return `Redis is loading its data set into memory after a restart (${said}); checks are answered once it has`;
  if (/^ERR unknown command '(evalsha|eval)'/i.test(said))
    return `Redis does not take Lua scripts (${said}: renamed or disabled with rename-command), which the rate limiter needs to count atomically; enable EVAL and EVALSHA`;
  if (said === 'Command timed out') return TIMED_OUT;
  return said;
}
