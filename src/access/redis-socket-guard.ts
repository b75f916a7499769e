import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';

const require = createRequire(import.meta.url);

type Connector = { prototype: { connect: (...args: unknown[]) => Promise<Duplex> } };

/**
 * ioredis listens for its sockets' errors with once(). Node's TLS emits an alert that comes
 * after the handshake (a TLS 1.3 Redis or Sentinel refusing the client certificate) as an
 * 'error' without closing the socket, so the reset that often follows is a second 'error' that
 * nothing listens to, and the process exits ("Unhandled 'error' event … read ECONNRESET"): a
 * server whose REDIS_TLS_* settings Redis refuses would crash at random instead of failing
 * open. Every socket ioredis opens (to Redis, to each cluster node, to each Sentinel, including
 * the Sentinel clients it makes for itself) is closed at its first error instead: ioredis still
 * sees that error, then the close, and reconnects as after any other.
 */
export function closeRedisSocketsOnError(): void {
  const connectors = [(require('ioredis/built/connectors/StandaloneConnector.js') as { default: Connector }).default, (require('ioredis') as { SentinelConnector: Connector }).SentinelConnector];
  for (const connector of connectors) {
    const connect = connector.prototype.connect;
    connector.prototype.connect = function (this: unknown, ...args: unknown[]) {
      return connect.apply(this, args).then((socket) => {
        socket.on('error', () => socket.destroy());
        return socket;
      });
    };
  }
}
