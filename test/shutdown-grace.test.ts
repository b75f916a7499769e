import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { startTestServer } from './helpers/server.js';

describe('shutdown grace', () => {
  it('a client that never finishes its request is cut off after SHUTDOWN_GRACE_MS, and close() completes', async () => {
    const s = await startTestServer({ listen: true, env: { SHUTDOWN_GRACE_MS: '500' } });
    const { port } = new URL(s.url);
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.resume(); // read whatever comes, so the end of the connection is seen
    // Headers announce a body that never comes: the request stays in flight.
    sock.write('POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":');
    const closed = new Promise<number>((r) => sock.once('close', () => r(Date.now())));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await s.stop();
    const took = Date.now() - started;
    const cutAt = await closed;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(5000);
    expect(cutAt - started).toBeGreaterThanOrEqual(450);
  });
});
