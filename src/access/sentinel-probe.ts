import net from 'node:net';
import tls from 'node:tls';
import type { RedisTlsOptions } from './redis-tls.js';

/**
 * Connects to one Sentinel (over TLS when asked, with the client certificate if any), sends
 * PING, and says why that failed, or undefined when it answered. ioredis drops the reason its
 * own Sentinel connections fail for (a certificate the process does not trust reads as
 * "Connection is closed"), so this looks once more itself. Over TLS 1.3 a server refuses a
 * missing or unknown client certificate only after the client's handshake is done, hence the
 * PING: the refusal arrives before any answer.
 */
export function probeSentinel(at: { host: string; port: number }, useTls: RedisTlsOptions | undefined, timeoutMs = 3000): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = useTls ? tls.connect({ host: at.host, port: at.port, ...useTls, ...(net.isIP(at.host) ? {} : { servername: at.host }) }) : net.connect({ host: at.host, port: at.port });
    const done = (e?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(e);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${at.host}:${at.port} within ${timeoutMs / 1000} s`)), timeoutMs);
    socket.once(useTls ? 'secureConnect' : 'connect', () => socket.write('PING\r\n'));
    // Any answer (+PONG, or -NOAUTH from a Sentinel with a password) means the connection itself works.
    socket.once('data', () => done());
    // on, not once: after a TLS alert the reset that follows is a second error.
    socket.on('error', done);
    socket.once('close', () => done(new Error(`${at.host}:${at.port} closed the connection without an answer`)));
  });
}
