import net from 'node:net';
import tls from 'node:tls';

/**
 * Connects to one Sentinel (over TLS when asked) and says why that failed, or undefined when it
 * connected. ioredis drops the reason its own Sentinel connections fail for (a certificate the
 * process does not trust reads as "Connection is closed"), so this looks once more itself.
 */
export function probeSentinel(at: { host: string; port: number }, useTls: boolean, timeoutMs = 3000): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = useTls ? tls.connect({ host: at.host, port: at.port, ...(net.isIP(at.host) ? {} : { servername: at.host }) }) : net.connect({ host: at.host, port: at.port });
    const done = (e?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(e);
    };
    const timer = setTimeout(() => done(new Error(`no answer from ${at.host}:${at.port} within ${timeoutMs / 1000} s`)), timeoutMs);
    socket.once(useTls ? 'secureConnect' : 'connect', () => done());
    socket.once('error', done);
  });
}
