import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ManualTimers, settle } from './helpers/manual-timers.js';
import { startTestServer } from './helpers/server.js';

describe('shutdown grace', () => {
  it('a client that never finishes its request is cut off when SHUTDOWN_GRACE_MS has passed, not before, and close() completes', async () => {
    // The server's timers are the test's: the grace period passes when the test says so.
    const timers = new ManualTimers();
    const s = await startTestServer({ listen: true, timers, env: { SHUTDOWN_GRACE_MS: '500' } });
    const { port } = new URL(s.url);
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.resume(); // read whatever comes, so the end of the connection is seen
    // Headers announce a body that never comes: the request stays in flight.
    const received = new Promise((r) => s.app.server.once('request', r));
    sock.write('POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"model":');
    await received;
    let cut = false;
    sock.once('close', () => (cut = true));
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    // Real time passes (the idle sweeps run), but the grace period has not: the connection holds.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 50));
    await timers.advance(499);
    expect(cut).toBe(false);
    expect(stopped).toBe(false);
    await timers.advance(1);
    await stopping;
    await settle();
    expect(cut).toBe(true);
    expect(stopped).toBe(true);
  });
});
