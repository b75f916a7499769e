import { errorMessage } from '../lib/errors.js';
import { tlsProblem } from '../lib/tls-errors.js';

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
      return `the Sentinels of ${listed} refused the password (${last}): put the password they and Redis take in REDIS_URL (redis://:password@${name}); it is sent to both`;
    // Why connecting failed, when a look of our own found it (sentinel-probe.ts): a certificate, a refused port.
    if (sentinelFailure) return `cannot reach the Sentinels of ${listed}: ${redisAdvice(url, status, sentinelFailure)}`;
    return `no Sentinel of ${listed} answered (${last}): check that they run and are reachable from here`;
  }
  if (lastError === undefined) {
    return tls && status === 'connecting' ? 'no answer to the TLS handshake: if this Redis does not use TLS, use redis:// instead of rediss://' : `the connection is ${status}`;
  }
  const said = errorMessage(lastError).replace(/\.$/, '');
  switch (tlsProblem(lastError)) {
    case 'untrusted':
      return `${said}: its TLS certificate is not signed by a CA this process trusts; start the process with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, the CA that signed it`;
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
  return said;
}
