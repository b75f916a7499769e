import net from 'node:net';

/**
 * A TCP proxy to 127.0.0.1:upstreamPort that, when the upstream closes a connection, waits
 * `resetAfterMs` and then resets the client's side (RST) instead of closing it. A TLS server
 * that refuses a client certificate after the handshake sends its alert and closes; on a real
 * network the client often gets a reset next (it had sent data the server never read). This
 * makes that reset certain, and comes after the client has read the alert. `latencyMs` delays
 * what the upstream sends, as a slow or busy link does.
 */
export async function resettingProxy(upstreamPort: number, resetAfterMs = 500, latencyMs = 0): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d) => upstream.writable && upstream.write(d));
    // Timers of one delay fire in the order they were set: the bytes keep their order.
    const later = (f: () => void, ms = 0) => (latencyMs + ms > 0 ? setTimeout(f, latencyMs + ms) : f());
    upstream.on('data', (d) => later(() => client.writable && client.write(d)));
    upstream.on('close', () => later(() => !client.destroyed && client.resetAndDestroy(), resetAfterMs));
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
