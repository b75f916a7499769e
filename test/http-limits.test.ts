import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { serveDemo, startTestServer, TOKEN, type TestServer } from './helpers/server.js';

const demo = demoModel();
const row = rowPayload(demo.holdout.data, 0);
const MiB = 1024 * 1024;

/** A body that arrives in 64 KiB chunks without a Content-Length, optionally never ending. */
function chunkedBody(bytes: number, opts: { hang?: boolean } = {}): ReadableStream<Uint8Array> {
  const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
  let sent = 0;
  return new ReadableStream({
    async pull(c) {
      if (sent >= bytes) {
        if (opts.hang) await new Promise(() => undefined);
        c.close();
        return;
      }
      sent += chunk.length;
      c.enqueue(chunk);
    },
  });
}

/**
 * Over a real port, because these are about the connection: a client still sending a body far
 * over BODY_LIMIT_BYTES reads the 413 (the server reads on and discards, instead of closing on a
 * client that is mid-write, which would give it EPIPE and no answer), and a client that goes
 * away mid-request leaves the server serving.
 */
describe('request bodies over a real connection', () => {
  let s: TestServer;
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  beforeAll(async () => {
    s = await startTestServer({ listen: true });
    await serveDemo(s);
  });
  afterAll(() => s?.stop());

  const expect413 = async (res: Response) => {
    expect(res.status).toBe(413);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(body.error.message).toMatch(/BODY_LIMIT_BYTES/);
  };

  it('a 20 MiB body with a Content-Length gets its 413, not a broken pipe', async () => {
    const body = JSON.stringify({ model: 'hotel', payload: {}, pad: 'x'.repeat(20 * MiB) });
    await expect413(await fetch(`${s.url}/v1/infer`, { method: 'POST', headers: auth, body }));
  });

  it('a 20 MiB chunked body (no Content-Length) gets its 413 while the client is still sending', async () => {
    await expect413(await fetch(`${s.url}/v1/infer`, { method: 'POST', headers: auth, body: chunkedBody(20 * MiB), duplex: 'half' } as RequestInit));
  });

  it('a client that would send 200 MiB reads its 413, and the server stops reading after a bounded amount', async () => {
    const { hostname, port } = new URL(s.url);
    const socket = net.connect(Number(port), hostname);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined); // EPIPE / ECONNRESET once the server has read enough
    const total = 200 * MiB;
    socket.write(`POST /v1/infer HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: ${total}\r\n\r\n`);
    const chunk = Buffer.alloc(MiB, 'x');
    let written = 0;
    let open = true;
    void closed.then(() => (open = false));
    while (open && written < total) {
      const more = socket.write(chunk);
      written += chunk.length;
      if (!more) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
    }
    await closed;
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(reply).toContain('PAYLOAD_TOO_LARGE');
    // Read on up to 16 MiB past the refusal (closing at once took about 4 MiB, what the socket
    // buffers hold), then closed: far less than the 200 MiB offered.
    expect(written).toBeGreaterThan(16 * MiB);
    expect(written).toBeLessThan(100 * MiB);
  });

  it('a refused body that ends within the bound leaves the connection usable for the next request', async () => {
    const { hostname, port } = new URL(s.url);
    const socket = net.connect(Number(port), hostname);
    await new Promise<void>((r) => socket.once('connect', () => r()));
    let reply = '';
    socket.on('data', (d: Buffer) => (reply += d.toString()));
    const body = Buffer.alloc(3 * MiB, 'x');
    socket.write(`POST /v1/infer HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: Bearer ${TOKEN}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`);
    socket.write(body);
    socket.write(`GET /healthz HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`);
    for (let i = 0; i < 200 && (reply.match(/HTTP\/1\.1 /g) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 25));
    socket.destroy();
    const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(['413', '200']);
  });

  it('a client that asked to close the connection (Python urllib, HTTP/1.0) reads an answer given before its body was read — 413, 401 — without a broken pipe, then the server closes', async () => {
    const { hostname, port } = new URL(s.url);
    // Headers and body in one write, as urllib sends them; 1.5 MiB may have arrived whole before
    // the answer, 4 MiB is still arriving. Node closed such a connection as soon as it had
    // answered, so the rest of the body met a reset: EPIPE on every try.
    for (const [size, header, token, status, code] of [
      [4 * MiB, 'HTTP/1.1\r\nconnection: close', TOKEN, 413, 'PAYLOAD_TOO_LARGE'],
      [1.5 * MiB, 'HTTP/1.1\r\nconnection: close', TOKEN, 413, 'PAYLOAD_TOO_LARGE'],
      [4 * MiB, 'HTTP/1.0', TOKEN, 413, 'PAYLOAD_TOO_LARGE'],
      // Refused from the headers, before the body parser: a wrong token.
      [4 * MiB, 'HTTP/1.1\r\nconnection: close', 'not-a-valid-token-at-all', 401, 'UNAUTHORIZED'],
    ] as const) {
      const what = `${header.replace('\r\n', ' ')} ${size} bytes → ${status}`;
      for (let i = 0; i < 3; i++) {
        const socket = net.connect(Number(port), hostname);
        await new Promise<void>((r) => socket.once('connect', () => r()));
        let reply = '';
        let error: string | undefined;
        let ended = false;
        socket.on('data', (d: Buffer) => (reply += d.toString()));
        socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
        socket.on('end', () => (ended = true));
        const closed = new Promise<void>((r) => socket.once('close', () => r()));
        const body = Buffer.alloc(size, 'x');
        const [version, extra] = header.split('\r\n');
        const head = `POST /v1/infer ${version}\r\nhost: ${hostname}\r\n${extra ? `${extra}\r\n` : ''}authorization: Bearer ${token}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
        socket.write(Buffer.concat([Buffer.from(head), body]));
        const timer = setTimeout(() => socket.destroy(), 20_000);
        await closed;
        clearTimeout(timer);
        expect(error, what).toBeUndefined();
        expect(reply, what).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
        expect(reply, what).toContain(code);
        // Closed by the server with a FIN once the body was read, not left open until a timeout.
        expect(ended, what).toBe(true);
      }
    }
  });

  it('a client that goes away mid-body leaves the server serving the next request', async () => {
    const ac = new AbortController();
    const pending = fetch(`${s.url}/v1/infer`, { method: 'POST', headers: auth, body: chunkedBody(64 * 1024, { hang: true }), duplex: 'half', signal: ac.signal } as RequestInit);
    await new Promise((r) => setTimeout(r, 100));
    ac.abort();
    await expect(pending).rejects.toThrow();
    const res = await fetch(`${s.url}/v1/infer`, { method: 'POST', headers: auth, body: JSON.stringify({ model: 'hotel', payload: row }) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { model: string }).model).toBe('hotel');
  });
});

/**
 * A client that sends its body a byte at a time (slowloris): Fastify's default set no limit,
 * so each such client held a connection for as long as it liked (a 100 KB body at a byte every
 * 5 s: six days). REQUEST_TIMEOUT_MS bounds the whole request; Node answers 408 and closes.
 */
describe('a request that takes longer than REQUEST_TIMEOUT_MS to arrive', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ listen: true, env: { REQUEST_TIMEOUT_MS: '1000' } });
    await serveDemo(s);
  });
  afterAll(() => s?.stop());

  it('gets 408 and its connection closed, while other requests are served', async () => {
    const { port } = new URL(s.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.write(`POST /v1/infer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
    const drip = setInterval(() => socket.writable && socket.write(' '), 100);
    try {
      await closed;
    } finally {
      clearInterval(drip);
    }
    expect(received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    // In the error model, saying which setting and what to do.
    expect(JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4))).toEqual({
      error: {
        code: 'REQUEST_TIMEOUT',
        message: 'the request did not arrive in full within REQUEST_TIMEOUT_MS (1000 ms): send it faster, or raise REQUEST_TIMEOUT_MS on the server for large uploads over slow links',
        request_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-z]+$/),
      },
    });
    const res = await fetch(`${s.url}/v1/infer`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'hotel', payload: row }),
    });
    expect(res.status).toBe(200);
  }, 60_000);

  /** What the server answers on a raw connection, once it has closed it. */
  const raw = async (bytes: string) => {
    const { port } = new URL(s.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(bytes);
    await closed;
    return { head: received.slice(0, received.indexOf('\r\n')), body: JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) };
  };

  it('headers over 16 KiB and bytes that are not HTTP are answered in the error model too, and the connection closed', async () => {
    const big = await raw(`GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatchObject({ head: 'HTTP/1.1 431 Request Header Fields Too Large', body: { error: { code: 'HEADERS_TOO_LARGE', message: expect.stringMatching(/16 KiB in all/) } } });
    const garbage = await raw('HELLO modelgate\r\n\r\n');
    expect(garbage).toMatchObject({ head: 'HTTP/1.1 400 Bad Request', body: { error: { code: 'BAD_REQUEST', message: expect.stringMatching(/^the request is not valid HTTP\/1\.1 \(HPE_/) } } });
  });
});

/**
 * A load balancer reuses idle connections; one the server closes as it sends a request on it
 * becomes a 502. KEEP_ALIVE_TIMEOUT_MS sets how long the server keeps them (above the balancer's
 * idle timeout), and the Keep-Alive header tells clients.
 */
describe('idle keep-alive connections', () => {
  /** One request on a raw connection; resolves with the answer's head and how long the idle connection then stayed open. */
  async function idleAfterOneRequest(url: string, waitForCloseMs: number): Promise<{ head: string; closedAfterMs: number | undefined }> {
    const { port } = new URL(url);
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.on('error', () => undefined);
    let received = '';
    let answeredAt = 0;
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - answeredAt)));
    await new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => {
        received += d.toString();
        if (/\r\n\r\n\{[^}]*\}/.test(received) && !answeredAt) {
          answeredAt = performance.now();
          resolve();
        }
      });
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    const closedAfterMs = await Promise.race([closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), waitForCloseMs))]);
    socket.destroy();
    return { head: received.split('\r\n\r\n')[0]!, closedAfterMs };
  }

  it('stay open 72 s by default, longer than AWS and ingress-nginx keep theirs', async () => {
    const s = await startTestServer({ listen: true });
    try {
      const { head, closedAfterMs } = await idleAfterOneRequest(s.url, 2500);
      expect(head).toMatch(/\r\nKeep-Alive: timeout=72(\r\n|$)/i);
      expect(closedAfterMs).toBeUndefined();
    } finally {
      await s.stop();
    }
  });

  it('KEEP_ALIVE_TIMEOUT_MS sets how long: the server closes an idle connection after it, not before', async () => {
    const s = await startTestServer({ listen: true, env: { KEEP_ALIVE_TIMEOUT_MS: '1500' } });
    try {
      const { head, closedAfterMs } = await idleAfterOneRequest(s.url, 30_000);
      expect(head).toMatch(/\r\nKeep-Alive: timeout=1(\r\n|$)/i);
      expect(closedAfterMs).toBeDefined();
      expect(closedAfterMs!).toBeGreaterThan(1000);
    } finally {
      await s.stop();
    }
  }, 60_000);
});
