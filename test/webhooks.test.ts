import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/lib/logger.js';
import { sign, verify } from '../src/webhooks/index.js';
import { DIALECTS } from './helpers/db.js';
import { demoModel } from './helpers/fixtures.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const demo = demoModel();

interface Received {
  path: string;
  id: string;
  timestamp: number;
  signature: string;
  body: string;
}

/** A real receiver on loopback; each path behaves as its handler says. */
async function receiver(handlers: Record<string, (req: IncomingMessage, res: ServerResponse, n: number) => void>) {
  const got: Received[] = [];
  // Requests per path and webhook-id: the nth attempt at one event.
  const counts = new Map<string, number>();
  const hung: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const p = req.url ?? '/';
      got.push({ path: p, id: String(req.headers['webhook-id']), timestamp: Number(req.headers['webhook-timestamp']), signature: String(req.headers['webhook-signature']), body });
      const key = `${p} ${String(req.headers['webhook-id'])}`;
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      const h = handlers[p];
      if (h) h(req, res, n);
      else res.writeHead(404).end();
      if (!res.writableEnded) hung.push(res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    got,
    close: () => {
      for (const r of hung) r.destroy();
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The admin's JSON calls to a test server, by inject: status and parsed body. */
const adminApi = (server: () => TestServer) => async (method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown) => {
  const s = server();
  const res = await s.app.inject({ method, url, headers: { ...s.auth, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
  return { status: res.statusCode, body: res.json() };
};

describe('Standard Webhooks signatures', () => {
  it('match the published test vector, and a changed byte fails verification', () => {
    // From the Standard Webhooks specification's examples.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const body = '{"test": 2432232314}';
    expect(sign(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body)).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
    expect(verify(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body, 'v1,bogus v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')).toBe(true);
    expect(verify(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, body.replace('2', '3'), 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')).toBe(false);
  });
});

for (const dialect of DIALECTS) {
  describe(`webhooks on ${dialect}`, () => {
    let s: TestServer;
    let rx: Awaited<ReturnType<typeof receiver>>;
    let now = Date.parse('2026-11-24T10:00:00Z');
    // The /dies receiver answers 500 while failing, 410 once gone, 200 when back.
    let dies: 'failing' | 'gone' | 'back' = 'failing';
    const secrets = new Map<string, string>();
    const api = adminApi(() => s);
    const round = async (advanceMs = 0) => {
      now += advanceMs;
      await s.webhookWorker.tick();
      await s.webhookWorker.idle();
    };

    beforeAll(async () => {
      rx = await receiver({
        '/ok': (_q, r) => r.writeHead(204).end(),
        '/ok?only=promoted': (_q, r) => r.writeHead(200).end(),
        '/ok?late=1': (_q, r) => r.writeHead(200).end(),
        '/ok?rot=1': (_q, r) => r.writeHead(200).end(),
        '/flaky': (_q, r, n) => (n <= 2 ? r.writeHead(500, { 'content-type': 'application/json' }).end(`{"error":"database locked (try ${n})"}`) : r.writeHead(200).end('thanks')),
        '/gone': (_q, r) => r.writeHead(410).end(),
        '/busy': (_q, r, n) => (n === 1 ? r.writeHead(429, { 'retry-after': '7' }).end() : r.writeHead(200).end()),
        '/slow': () => undefined, // never answers
        '/down': (_q, r) => r.writeHead(500).end(),
        '/dies': (_q, r) => r.writeHead({ failing: 500, gone: 410, back: 200 }[dies]).end(),
        '/moved': (_q, r) => r.writeHead(301, { location: '/ok' }).end(),
      });
      // The timeout is real time: long enough that a receiver on a loaded machine (CI shares two cores) answers within it, short enough for /slow.
      s = await startTestServer({ dialect, jobs: false, clock: { now: () => new Date(now) }, env: { WEBHOOK_RETRY_SCHEDULE: '1s,2s,3s', WEBHOOK_TIMEOUT_MS: '1500' } });
      for (const [p, events] of [
        ['/ok', undefined],
        ['/flaky', undefined],
        ['/gone', undefined],
        ['/busy', undefined],
        ['/slow', undefined],
        ['/ok?only=promoted', ['model.promoted']],
      ] as const) {
        const r = await api('POST', '/v1/webhooks', { url: `${rx.base}${p}`, ...(events ? { events } : {}) });
        expect(r.status).toBe(200);
        expect(r.body.secret).toMatch(/^whsec_/);
        secrets.set(`${r.body.id} ${p}`, r.body.secret);
      }
      await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 'alice' });
      await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 'alice' });
    });
    afterAll(async () => {
      await s?.stop();
      await rx?.close();
    });

    it('refuses bad subscriptions: not http(s), a host that does not resolve, unknown events, a bad secret', async () => {
      expect(await api('POST', '/v1/webhooks', { url: 'ftp://example.com/x' })).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/only http and https/) } } });
      expect(await api('POST', '/v1/webhooks', { url: 'http://no-such-host.invalid/hook' })).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/does not resolve/) } } });
      // fetch never connects to IRC's port: every delivery would fail with only "bad port".
      expect(await api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:6667/hook' })).toMatchObject({
        status: 400,
        body: { error: { message: expect.stringMatching(/^url: port 6667 is one Node's HTTP client \(fetch\) never connects to .*; run the receiver on another port$/) } },
      });
      expect((await api('POST', '/v1/webhooks', { url: `${rx.base}/ok`, events: ['model.exploded'] })).status).toBe(400);
      expect(await api('POST', '/v1/webhooks', { url: `${rx.base}/ok`, secret: 'hunter2' })).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/whsec_/) } } });
      expect(await api('GET', '/v1/webhooks')).toMatchObject({ status: 200, body: { subscriptions: expect.any(Array) } });
      expect(JSON.stringify((await api('GET', '/v1/webhooks')).body)).not.toMatch(/whsec_/);
      // The same receiver again (a deploy job run twice): the subscription there is, without its secret.
      const subscribed = (await api('GET', '/v1/webhooks')).body.subscriptions as { id: string; url: string }[];
      const ok = subscribed.find((x) => x.url === `${rx.base}/ok`)!;
      const again = await api('POST', '/v1/webhooks', { url: `${rx.base}/ok`, events: ['*'] });
      expect(again).toMatchObject({ status: 200, body: { id: ok.id, already: true, events: ['*'] } });
      expect(again.body.secret).toBeUndefined();
      // With other events it would send each event twice, signed with a secret the receiver does not know.
      const twice = await api('POST', '/v1/webhooks', { url: `${rx.base}/ok`, events: ['model.promoted'] });
      expect(twice.status).toBe(409);
      expect(twice.body.error).toMatchObject({
        code: 'CONFLICT',
        message: `url: subscription ${ok.id} already delivers to ${rx.base}/ok, for events *; a second one would send each event twice, signed with another secret. To change its events, remove it (modelgate webhooks remove ${ok.id}) and add it again; for a new secret, rotate it (modelgate webhooks rotate-secret ${ok.id})`,
      });
      expect((await api('POST', '/v1/webhooks', { url: `${rx.base}/ok`, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' })).body.error.message).toMatch(/, with another secret; /);
      expect((await api('GET', '/v1/webhooks')).body.subscriptions).toHaveLength(subscribed.length);
    });

    it('delivers each event signed, to the subscriptions that want it; a receiver can verify every signature', async () => {
      await round();
      const ok = rx.got.filter((g) => g.path === '/ok');
      // Sent concurrently: arrival order is not part of the contract.
      expect(ok.map((g) => JSON.parse(g.body).type).sort()).toEqual(['model.promoted', 'model.registered']);
      const promoted = ok.find((g) => JSON.parse(g.body).type === 'model.promoted')!;
      expect(JSON.parse(promoted.body)).toMatchObject({ type: 'model.promoted', data: { model: 'hotel', alias: 'production', version: 1, previous_version: null, actor: 'alice' } });
      const only = rx.got.filter((g) => g.path === '/ok?only=promoted');
      expect(only.map((g) => JSON.parse(g.body).type)).toEqual(['model.promoted']);
      // The same event carries the same webhook-id to every subscriber (receivers deduplicate on it).
      expect(only[0].id).toBe(promoted.id);
      for (const g of rx.got) {
        const secret = [...secrets].find(([k]) => k.endsWith(` ${g.path}`))![1];
        expect(verify(secret, g.id, g.timestamp, g.body, g.signature), g.path).toBe(true);
        expect(g.timestamp).toBe(Math.floor(now / 1000));
      }
    });

    it('retries failures on the schedule with jitter, logs every attempt, and delivers once the receiver recovers', async () => {
      const flaky = () => rx.got.filter((g) => g.path === '/flaky').length;
      expect(flaky()).toBe(2); // both events failed once
      await round(500); // not due yet (first retry after 1 s ± 20 %)
      expect(flaky()).toBe(2);
      await round(800);
      expect(flaky()).toBe(4); // second attempts: 500 again
      await round(1000); // the second retry waits 2 s ± 20 %
      expect(flaky()).toBe(4);
      await round(1500);
      expect(flaky()).toBe(6); // third attempts: 200
      const sub = [...secrets.keys()].find((k) => k.endsWith(' /flaky'))!.split(' ')[0];
      const mine = (await s.ctx.webhooks.deliveries({ limit: 100 })).filter((d) => d.subscription_id === sub);
      expect(mine.map((d) => [d.status, d.attempts])).toEqual([
        ['delivered', 3],
        ['delivered', 3],
      ]);
      const attempts = await s.ctx.db.kysely
        .selectFrom('webhook_attempts')
        .select(['status_code'])
        .where(
          'delivery_id',
          'in',
          mine.map((d) => d.id),
        )
        .execute();
      expect(attempts.map((a) => a.status_code).sort()).toEqual([200, 200, 500, 500, 500, 500]);
      // One delivery's history: each attempt, and what the receiver said to the failed ones (a success's answer is not kept).
      const one = await api('GET', `/v1/webhooks/deliveries/${mine[0].id}`);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ id: mine[0].id, subscription_id: sub, url: `${rx.base}/flaky`, status: 'delivered', attempts: 3, requeued: 0, next_attempt_at: null, last_status: 200 });
      expect(one.body.history.map((a: Record<string, unknown>) => [a.attempt, a.status_code, a.error, a.response])).toEqual([
        [1, 500, 'HTTP 500', '{"error":"database locked (try 1)"}'],
        [2, 500, 'HTTP 500', '{"error":"database locked (try 2)"}'],
        [3, 200, null, null],
      ]);
      expect(one.body.history[0].duration_ms).toBeGreaterThan(0);
      // The list, of one subscription, names the receiver.
      const listed = await api('GET', `/v1/webhooks/deliveries?subscription=${sub}`);
      expect(listed.body.deliveries.map((d: { id: string; url: string }) => [d.id, d.url]).sort()).toEqual(mine.map((d) => [d.id, `${rx.base}/flaky`]).sort());
      const byEvent = await api('GET', `/v1/webhooks/deliveries?event=${mine[0].event_id}`);
      expect(byEvent.body.deliveries.map((d: { event_id: string }) => d.event_id)).toEqual(byEvent.body.deliveries.map(() => mine[0].event_id));
      expect(byEvent.body.deliveries.length).toBeGreaterThanOrEqual(2); // every receiver of that event
      expect(await api('GET', '/v1/webhooks/deliveries/no-such-delivery')).toMatchObject({
        status: 404,
        body: { error: { code: 'NOT_FOUND', message: expect.stringMatching(/^no webhook delivery no-such-delivery; modelgate webhooks deliveries/) } },
      });
    });

    it('410 Gone disables the subscription; 429 with Retry-After waits exactly that long', async () => {
      const subs = (await api('GET', '/v1/webhooks')).body.subscriptions as { url: string; enabled: boolean; disabled_reason: string | null }[];
      expect(subs.find((x) => x.url.endsWith('/gone'))).toMatchObject({ enabled: false, disabled_reason: expect.stringMatching(/410 Gone/) });
      // Nothing more goes to it: a new event reaches the others only.
      const before = rx.got.filter((g) => g.path === '/gone').length;
      await s.ctx.registry.promote({ model: 'hotel', target: 'blue', version: 1, actor: 'alice' });
      await round();
      expect(rx.got.filter((g) => g.path === '/gone')).toHaveLength(before);
      expect(rx.got.filter((g) => g.path === '/ok' && JSON.parse(g.body).data.alias === 'blue')).toHaveLength(1);
      const busy = [...secrets.keys()].find((k) => k.endsWith(' /busy'))!.split(' ')[0];
      const rows = await s.ctx.db.kysely.selectFrom('webhook_deliveries').select(['status', 'attempts', 'next_attempt_at', 'updated_at']).where('subscription_id', '=', busy).execute();
      // The 429 came on the very first tick; the receiver asked for 7 s and got them.
      const waited = rows.find((r) => r.attempts === 1 && r.status === 'pending');
      if (waited) expect(Date.parse(String(waited.next_attempt_at instanceof Date ? waited.next_attempt_at.toISOString() : waited.next_attempt_at)) - Date.parse('2026-11-24T10:00:00Z')).toBe(7000);
      await round(7000);
      const done = await s.ctx.db.kysely.selectFrom('webhook_deliveries').select(['status']).where('subscription_id', '=', busy).execute();
      expect(done.map((d) => d.status)).toEqual(['delivered', 'delivered', 'delivered']);
    });

    it('a receiver that never answers: timeouts, then the dead-letter queue; retry-dlq queues them again', async () => {
      for (let i = 0; i < 4; i++) await round(5000);
      const slow = [...secrets.keys()].find((k) => k.endsWith(' /slow'))!.split(' ')[0];
      const rows = await s.ctx.db.kysely.selectFrom('webhook_deliveries').select(['status', 'attempts', 'last_error']).where('subscription_id', '=', slow).execute();
      expect(rows).toHaveLength(3);
      for (const r of rows) expect(r).toMatchObject({ status: 'dead', attempts: 4, last_error: expect.stringMatching(/no answer within 1500 ms/) });
      const deadRows = await s.ctx.db.kysely
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhook_subscriptions as w', 'w.id', 'd.subscription_id')
        .select(['w.url', 'd.attempts', 'd.last_error'])
        .where('d.status', '=', 'dead')
        .execute();
      expect(deadRows.map((r) => r.url.replace(rx.base, ''))).toEqual(['/slow', '/slow', '/slow']);
      expect((await api('GET', '/v1/webhooks')).body.dead_letters).toBe(3);
      const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/modelgate_webhook_dlq_size 3/);
      expect(metrics).toMatch(/modelgate_webhook_deliveries_total\{status="dead"\} 3/);
      expect(await api('POST', '/v1/webhooks/retry-dlq', { url: `${rx.base}/nowhere` })).toMatchObject({ body: { requeued: 0 } });
      expect(await api('POST', '/v1/webhooks/retry-dlq', { url: `${rx.base}/slow` })).toMatchObject({ body: { requeued: 3 } });
      expect((await api('GET', '/v1/webhooks')).body.dead_letters).toBe(0);
      // Queued again: attempts number on (5, not 1 again) while the retry schedule starts over (1 s ± 20 %, not dead at once).
      const before = now;
      await round();
      const again = (await api('GET', `/v1/webhooks/deliveries?subscription=${slow}`)).body.deliveries as { id: string; status: string; attempts: number; requeued: number; next_attempt_at: string }[];
      expect(again.map((d) => [d.status, d.attempts, d.requeued])).toEqual([
        ['pending', 5, 1],
        ['pending', 5, 1],
        ['pending', 5, 1],
      ]);
      for (const d of again) expect(Date.parse(d.next_attempt_at) - before).toBeGreaterThanOrEqual(800);
      for (const d of again) expect(Date.parse(d.next_attempt_at) - before).toBeLessThanOrEqual(1200);
      const history = (await api('GET', `/v1/webhooks/deliveries/${again[0].id}`)).body.history as { attempt: number; status_code: number | null; response: string | null }[];
      expect(history.map((a) => [a.attempt, a.status_code, a.response])).toEqual([1, 2, 3, 4, 5].map((n) => [n, null, null]));
    });

    it('removing a subscription cancels what it had pending', async () => {
      const slow = [...secrets.keys()].find((k) => k.endsWith(' /slow'))!.split(' ')[0];
      expect(await api('DELETE', `/v1/webhooks/${slow}`)).toMatchObject({ status: 200, body: { removed: true } });
      expect((await api('DELETE', `/v1/webhooks/${slow}`)).status).toBe(404);
      const rows = await s.ctx.db.kysely.selectFrom('webhook_deliveries').select(['status']).where('subscription_id', '=', slow).execute();
      expect(rows.map((r) => r.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    });

    it('dead letters go with their receiver: removing it, or its 410 Gone, cancels them, and the dead-letter count falls to 0', async () => {
      const { emitToOutbox } = await import('../src/webhooks/index.js');
      const down = (await api('POST', '/v1/webhooks', { url: `${rx.base}/down`, events: ['monitor.report'] })).body.id as string;
      const diesId = (await api('POST', '/v1/webhooks', { url: `${rx.base}/dies`, events: ['monitor.report'] })).body.id as string;
      await emitToOutbox(s.ctx.db.kysely, 'monitor.report', { model: 'dead-letter-test' }, new Date(now).toISOString());
      for (let i = 0; i < 4; i++) await round(5000);
      const statusOf = async (sub: string) => (await s.ctx.db.kysely.selectFrom('webhook_deliveries').select(['status']).where('subscription_id', '=', sub).execute()).map((r) => r.status).sort();
      expect([await statusOf(down), await statusOf(diesId)]).toEqual([['dead'], ['dead']]);
      expect((await api('GET', '/v1/webhooks')).body.dead_letters).toBe(2);
      // The receiver is gone for good (410): its dead letter can never be delivered, so it is not kept as one.
      dies = 'gone';
      await emitToOutbox(s.ctx.db.kysely, 'monitor.report', { model: 'dead-letter-test' }, new Date(now).toISOString());
      await round();
      expect(await statusOf(diesId)).toEqual(['cancelled', 'cancelled']);
      expect(await statusOf(down)).toEqual(['dead', 'pending']);
      expect((await api('GET', '/v1/webhooks')).body.dead_letters).toBe(1);
      // Removed: its dead letter and its pending delivery are cancelled.
      expect((await api('DELETE', `/v1/webhooks/${down}`)).status).toBe(200);
      expect(await statusOf(down)).toEqual(['cancelled', 'cancelled']);
      expect((await api('GET', '/v1/webhooks')).body.dead_letters).toBe(0);
      expect((await s.app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/\nmodelgate_webhook_dlq_size 0\n/);
      // The receiver is back: enabled again, it gets the events from then on, not those while it was disabled.
      const emit = () => emitToOutbox(s.ctx.db.kysely, 'monitor.report', { model: 'dead-letter-test' }, new Date(now).toISOString());
      await emit();
      await round();
      expect(await statusOf(diesId)).toEqual(['cancelled', 'cancelled']);
      expect((await api('POST', '/v1/webhooks', { url: `${rx.base}/dies`, events: ['monitor.report'] })).body.error.message).toMatch(
        new RegExp(`it is disabled \\(the receiver answered 410 Gone at .*\\); .* To send to it again: modelgate webhooks enable ${diesId}\\. To change its events`),
      );
      dies = 'back';
      const enabled = await api('POST', `/v1/webhooks/${diesId}/enable`);
      expect(enabled).toMatchObject({ status: 200, body: { id: diesId, enabled: true, disabled_reason: null, was_disabled_because: expect.stringMatching(/^the receiver answered 410 Gone at /) } });
      expect((await api('POST', `/v1/webhooks/${diesId}/enable`)).body).toMatchObject({ id: diesId, enabled: true, already: true });
      await emit();
      await round();
      expect(await statusOf(diesId)).toEqual(['cancelled', 'cancelled', 'delivered']);
      expect(await api('POST', '/v1/webhooks/wh_nope/enable')).toMatchObject({ status: 404 });
      expect(await api('DELETE', `/v1/webhooks/${diesId}`)).toMatchObject({ status: 200 });
      // The other receivers (every event: /flaky, /busy) retry these events; settled here, so the tests after meet no backlog.
      for (let i = 0; i < 4; i++) await round(5000);
      const pending = await s.ctx.db.kysely
        .selectFrom('webhook_deliveries')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('status', '=', 'pending')
        .executeTakeFirstOrThrow();
      expect(Number(pending.n)).toBe(0);
    });

    it('a new subscription hears of what happens from then on, not of older events still waiting to be sent', async () => {
      await s.ctx.registry.promote({ model: 'hotel', target: 'green', version: 1, actor: 'alice' }); // not sent yet: no tick
      now += 1000;
      const late = await api('POST', '/v1/webhooks', { url: `${rx.base}/ok?late=1` });
      expect(late.status).toBe(200);
      await round();
      await s.ctx.registry.promote({ model: 'hotel', target: 'green2', version: 1, actor: 'alice' });
      await round();
      const seen = rx.got.filter((g) => g.path === '/ok?late=1').map((g) => JSON.parse(g.body).data.alias);
      expect(seen).toEqual(['green2']);
      expect(rx.got.filter((g) => g.path === '/ok' && JSON.parse(g.body).data.alias === 'green')).toHaveLength(1);
    });

    it('a rotated secret: during its grace each delivery is signed with the old and the new secret, after it with the new one only', async () => {
      const added = await api('POST', '/v1/webhooks', { url: `${rx.base}/ok?rot=1`, events: ['model.promoted'] });
      const id = added.body.id as string;
      const first = added.body.secret as string;
      const delivered = async (alias: string) => {
        await s.ctx.registry.promote({ model: 'hotel', target: alias, version: 1, actor: 'alice' });
        await round();
        const got = rx.got.filter((g) => g.path === '/ok?rot=1' && JSON.parse(g.body).data.alias === alias);
        expect(got, alias).toHaveLength(1);
        return got[0];
      };
      const signedBy = (g: Received, secret: string) => verify(secret, g.id, g.timestamp, g.body, g.signature);

      const rotated = await api('POST', `/v1/webhooks/${id}/rotate-secret`, { grace: '1h' });
      expect(rotated).toMatchObject({
        status: 200,
        body: {
          id,
          secret: expect.stringMatching(/^whsec_/),
          secret_rotated_by: 'admin-token',
          secret_rotated_at: new Date(now).toISOString(),
          previous_secret_valid_until: new Date(now + 3_600_000).toISOString(),
        },
      });
      const second = rotated.body.secret as string;
      expect(second).not.toBe(first);
      const during = await delivered('rot-a');
      expect(during.signature.split(' ')).toHaveLength(2);
      expect(signedBy(during, first)).toBe(true);
      expect(signedBy(during, second)).toBe(true);
      // The list shows the grace, never a secret.
      const listed = (await api('GET', '/v1/webhooks')).body as { subscriptions: { id: string; previous_secret_valid_until: string | null }[] };
      expect(listed.subscriptions.find((x) => x.id === id)?.previous_secret_valid_until).toBe(new Date(now + 3_600_000).toISOString());
      expect(JSON.stringify(listed)).not.toMatch(/whsec_/);

      now += 3_600_001;
      const after = await delivered('rot-b');
      expect(after.signature.split(' ')).toHaveLength(1);
      expect(signedBy(after, second)).toBe(true);
      expect(signedBy(after, first)).toBe(false);

      // A second rotation within the grace keeps only the secret it replaces.
      const third = (await api('POST', `/v1/webhooks/${id}/rotate-secret`, {})).body.secret as string;
      const fourth = (await api('POST', `/v1/webhooks/${id}/rotate-secret`, { grace: '1h' })).body.secret as string;
      const twice = await delivered('rot-c');
      expect([signedBy(twice, fourth), signedBy(twice, third), signedBy(twice, second)]).toEqual([true, true, false]);

      // 0s: the old secret stops at once; a secret of one's own is taken.
      const own = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
      expect(await api('POST', `/v1/webhooks/${id}/rotate-secret`, { grace: '0s', secret: own })).toMatchObject({ status: 200, body: { secret: own, previous_secret_valid_until: null } });
      const at0 = await delivered('rot-d');
      expect([signedBy(at0, own), signedBy(at0, fourth)]).toEqual([true, false]);

      expect(await api('POST', `/v1/webhooks/${id}/rotate-secret`, { secret: own })).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/current secret/) } } });
      expect(await api('POST', `/v1/webhooks/${id}/rotate-secret`, { grace: '31d' })).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/0s to 30d/) } } });
      expect(await api('POST', `/v1/webhooks/${id}/rotate-secret`, { secret: 'hunter2' })).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/whsec_/) } } });
      expect(await api('POST', '/v1/webhooks/wh_nope/rotate-secret', {})).toMatchObject({ status: 404, body: { error: { message: expect.stringMatching(/no webhook subscription wh_nope/) } } });
      // Nothing a refused rotation did: the last secret still signs alone.
      const still = await delivered('rot-e');
      expect([signedBy(still, own), still.signature.split(' ').length]).toEqual([true, 1]);
    });

    it('a test event goes to one subscription now, signed as its deliveries are, and the reply says how the receiver took it', async () => {
      const idOf = (p: string) => [...secrets.keys()].find((k) => k.endsWith(` ${p}`))!.split(' ')[0];
      const outbox = async () =>
        Number(
          (
            await s.ctx.db.kysely
              .selectFrom('webhook_outbox')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const queued = await outbox();
      const ok = await api('POST', `/v1/webhooks/${idOf('/ok')}/test`);
      expect(ok).toMatchObject({
        status: 200,
        body: { subscription: idOf('/ok'), url: `${rx.base}/ok`, enabled: true, delivered: true, status_code: 204, error: null, response: null, signed_with: ['current'] },
      });
      const got = rx.got.filter((g) => g.id === ok.body.event_id);
      expect(got).toHaveLength(1);
      expect(JSON.parse(got[0].body)).toEqual({ type: 'webhook.test', timestamp: new Date(now).toISOString(), data: { subscription: idOf('/ok'), message: expect.any(String) } });
      expect(verify(secrets.get(`${idOf('/ok')} /ok`)!, got[0].id, got[0].timestamp, got[0].body, got[0].signature)).toBe(true);
      // A receiver that refuses: not delivered, with its answer; a disabled one is tried and says so.
      const refused = await api('POST', `/v1/webhooks/${idOf('/flaky')}/test`);
      expect(refused.body).toMatchObject({ delivered: false, status_code: 500, error: 'HTTP 500', response: '{"error":"database locked (try 1)"}' });
      expect((await api('POST', `/v1/webhooks/${idOf('/gone')}/test`)).body).toMatchObject({ enabled: false, delivered: false, status_code: 410 });
      // A receiver that moved (a load balancer sending http to https, say): where to, and what to do.
      const moved = await api('POST', '/v1/webhooks', { url: `${rx.base}/moved` });
      expect((await api('POST', `/v1/webhooks/${moved.body.id}/test`)).body).toMatchObject({
        delivered: false,
        status_code: 301,
        error: `HTTP 301 (moved to ${rx.base}/ok; subscribe that URL: redirects are not followed)`,
      });
      expect((await api('DELETE', `/v1/webhooks/${moved.body.id}`)).status).toBe(200);
      // Nothing queued, nothing to retry.
      expect(await outbox()).toBe(queued);
      expect(await api('POST', '/v1/webhooks/wh_nope/test')).toMatchObject({ status: 404, body: { error: { message: expect.stringMatching(/no webhook subscription wh_nope/) } } });
    });

    it('rollout and monitoring events are written with the change: rollback, alert fired', async () => {
      await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 'bob' });
      await s.ctx.rollouts.startCanary({ model: 'hotel', canary_version: 2, canary_percent: 10, actor: 'bob' });
      await s.ctx.rollouts.stopCanary('hotel', 'bob');
      await s.ctx.monitoring.run('hotel', 3_600_000);
      const types = (await s.ctx.db.kysely.selectFrom('webhook_outbox').select(['type']).orderBy('created_at').execute()).map((r) => r.type);
      expect(types).toEqual(expect.arrayContaining(['model.registered', 'rollout.started', 'rollout.rolled_back', 'monitor.report']));
    });
  });
}

describe('webhooks from the command line (SQLite)', () => {
  it('add prints the secret once; list never shows it; retry-dlq and remove; bad input exits 2', async () => {
    const { runCli } = await import('./helpers/cli.js');
    const { tempDir } = await import('./helpers/db.js');
    const refused = await runCli(['webhooks', 'add', '--url', 'http://127.0.0.1:9/hook'], { MODELGATE_DATA_DIR: tempDir() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/127\.0\.0\.1 is in 127\.0\.0\.0\/8, loopback; webhooks to internal addresses are refused unless WEBHOOK_ALLOW_PRIVATE=on/);
    const env = { MODELGATE_DATA_DIR: tempDir(), WEBHOOK_ALLOW_PRIVATE: 'true' };
    const add = await runCli(['webhooks', 'add', '--url', 'http://127.0.0.1:19999/hook', '--events', 'model.promoted,rollout.rolled_back', '--json'], env);
    expect(add.code, add.stderr).toBe(0);
    const sub = add.json();
    expect(sub).toMatchObject({ url: 'http://127.0.0.1:19999/hook', events: ['model.promoted', 'rollout.rolled_back'], enabled: true, secret: expect.stringMatching(/^whsec_/) });
    // The same add again (events in another order): the subscription there is, and no secret.
    const addedAgain = await runCli(['webhooks', 'add', '--url', 'http://127.0.0.1:19999/hook', '--events', 'rollout.rolled_back,model.promoted'], env);
    expect(addedAgain.code, addedAgain.stderr).toBe(0);
    expect(addedAgain.stdout).toBe(
      `already subscribed ${sub.id}: http://127.0.0.1:19999/hook (model.promoted, rollout.rolled_back); its secret was shown when it was added (modelgate webhooks rotate-secret ${sub.id} makes a new one)\n`,
    );
    const list = await runCli(['webhooks', 'list', '--json'], env);
    expect(list.json()).toMatchObject({ subscriptions: [{ id: sub.id }], dead_letters: 0 });
    expect(list.json().subscriptions).toHaveLength(1);
    // A loopback receiver with WEBHOOK_ALLOW_PRIVATE on is one this server delivers to.
    expect(list.json().subscriptions[0]).not.toHaveProperty('refused');
    expect(list.stdout).not.toContain('whsec_');
    expect((await runCli(['webhooks', 'retry-dlq', '--json'], env)).json()).toEqual({ requeued: 0 });
    // By its receiver URL, as the operator has it at hand: the same subscription.
    const rotated = await runCli(['webhooks', 'rotate-secret', 'http://127.0.0.1:19999/hook', '--grace', '2h'], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(/^new secret for wh_\S+ \(http:\/\/127\.0\.0\.1:19999\/hook\): whsec_\S+\ndeliveries carry the old secret's signature too until \d{4}-/);
    expect(rotated.stdout.startsWith(`new secret for ${sub.id} (`)).toBe(true);
    expect(rotated.stdout).not.toContain(sub.secret);
    const rotatedList = await runCli(['webhooks', 'list'], env);
    expect(rotatedList.stdout).toMatch(/OLD_SECRET_UNTIL\n.* \d{4}-\d\d-\d\dT[\d:.]+Z\n/);
    expect(rotatedList.stdout).not.toContain('whsec_');
    expect((await runCli(['webhooks', 'rotate-secret', 'wh_nope', '--json'], env)).code).toBe(1);
    expect((await runCli(['webhooks', 'rotate-secret', sub.id, '--grace', 'soon'], env)).code).toBe(2);
    const bad = await runCli(['webhooks', 'add', '--url', 'gopher://example.com/'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/only http and https/);
    const removed = await runCli(['webhooks', 'remove', 'http://127.0.0.1:19999/hook'], env);
    expect(removed.stdout).toBe(`removed ${sub.id} (http://127.0.0.1:19999/hook)\n`);
    const again = await runCli(['webhooks', 'remove', sub.id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no webhook subscription/);
  });
});

describe("a delivery's attempts from the command line (SQLite)", () => {
  let s: TestServer;
  let rx: Awaited<ReturnType<typeof receiver>>;
  let now = Date.parse('2026-12-07T09:00:00Z');
  beforeAll(async () => {
    rx = await receiver({
      '/refuses': (_q, r) => r.writeHead(422, { 'content-type': 'text/plain' }).end('unknown field "alias"\n  expected one of: model, version'),
      '/fine': (_q, r) => r.writeHead(204).end(),
      '/checks-another-secret': (_q, r) => r.writeHead(401).end('bad signature'),
    });
    s = await startTestServer({ jobs: false, clock: { now: () => new Date(now) }, env: { WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_SCHEDULE: '1m' } });
  });
  afterAll(async () => {
    await s?.stop();
    await rx?.close();
  });

  it('deliveries names the receiver and its answer; delivery shows every attempt with the start of what the receiver said', async () => {
    const { runCli } = await import('./helpers/cli.js');
    const url = `${rx.base}/refuses`;
    const added = await s.app.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: { ...s.auth, 'content-type': 'application/json' },
      payload: JSON.stringify({ url, events: ['model.registered'] }),
    });
    expect(added.statusCode).toBe(200);
    await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    // The retry is due 1 min ± 20 % after the first attempt: 73 s later, whatever the jitter.
    for (const step of [0, 73_000]) {
      now += step;
      await s.webhookWorker.tick();
      await s.webhookWorker.idle();
    }

    const listed = await runCli(['webhooks', 'deliveries', '--subscription', url], s.env);
    expect(listed.code, listed.stderr).toBe(0);
    const [header, row, ...rest] = listed.stdout.trimEnd().split('\n');
    expect(rest).toEqual([]);
    expect(header.split(/\s+/)).toEqual(['ID', 'TYPE', 'URL', 'STATUS', 'ATTEMPTS', 'LAST', 'UPDATED_AT']);
    expect(row.split(/\s{2,}/).slice(1)).toEqual(['model.registered', url, 'dead', '2', 'HTTP 422', '2026-12-07T09:01:13.000Z']);
    const id = row.split(' ')[0];

    const shown = await runCli(['webhooks', 'delivery', id], s.env);
    expect(shown.code, shown.stderr).toBe(0);
    const lines = shown.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^delivery ${id}: event msg_\\S+ \\(model\\.registered, 2026-12-07T09:00:00\\.000Z\\) to ${url.replace(/[.]/g, '\\.')}$`));
    expect(lines[1]).toBe('dead after 2 attempts');
    expect(lines[3].split(/\s+/)).toEqual(['ATTEMPT', 'AT', 'STATUS', 'ERROR', 'MS', 'RESPONSE']);
    // The answer's line break and indent flattened to one line in the table.
    expect(lines[4]).toMatch(/^1 +2026-12-07T09:00:00\.000Z +422 +HTTP 422 +\d+ +unknown field "alias" expected one of: model, version$/);
    expect(lines[5]).toMatch(/^2 +2026-12-07T09:01:13\.000Z +422 +HTTP 422 +\d+ +unknown field "alias" expected one of: model, version$/);
    expect(lines).toHaveLength(6);

    const json = (await runCli(['webhooks', 'delivery', id, '--json'], s.env)).json();
    expect(json).toMatchObject({ id, url, status: 'dead', attempts: 2, requeued: 0, next_attempt_at: null });
    expect(json.history.map((a: { response: string }) => a.response)).toEqual(['unknown field "alias"\n  expected one of: model, version', 'unknown field "alias"\n  expected one of: model, version']);

    // Queued again: the count goes on, and the text says it was requeued.
    expect((await runCli(['webhooks', 'retry-dlq', '--id', id, '--json'], s.env)).json()).toEqual({ requeued: 1 });
    const requeued = await runCli(['webhooks', 'delivery', id], s.env);
    // (The CLI's clock is the real one: it queues it for now.)
    expect(requeued.stdout.split('\n')[1]).toMatch(/^pending after 2 attempts \(queued again by hand once\); next attempt at \d{4}-\d\d-\d\dT[\d:.]+Z$/);

    // A test event, by the receiver's URL: not delivered (exit 1), with what the receiver said.
    const tested = await runCli(['webhooks', 'test', url], s.env);
    expect(tested.code).toBe(1);
    expect(tested.stdout).toMatch(
      new RegExp(`^not delivered to ${url.replace(/[.]/g, '\\.')}: HTTP 422 in \\d+ ms \\(webhook-id msg_\\S+\\)\nthe receiver answered: unknown field "alias" expected one of: model, version\n$`),
    );
    expect((await runCli(['webhooks', 'test', url, '--json'], s.env)).json()).toMatchObject({ url, delivered: false, status_code: 422 });
    const fine = `${rx.base}/fine`;
    expect(
      (await s.app.inject({ method: 'POST', url: '/v1/webhooks', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ url: fine, events: ['model.promoted'] }) }))
        .statusCode,
    ).toBe(200);
    const delivered = await runCli(['webhooks', 'test', fine], s.env);
    expect([delivered.code, delivered.stderr]).toEqual([0, '']);
    expect(delivered.stdout).toMatch(new RegExp(`^delivered to ${fine.replace(/[.]/g, '\\.')}: HTTP 204 in \\d+ ms, signed with the current secret \\(webhook-id msg_\\S+\\)\n$`));
    expect(rx.got.filter((g) => g.path === '/fine').map((g) => JSON.parse(g.body).type)).toEqual(['webhook.test']);
    // A 401: the hint is the secret.
    const other = `${rx.base}/checks-another-secret`;
    const sub = (
      await s.app.inject({ method: 'POST', url: '/v1/webhooks', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ url: other, events: ['model.promoted'] }) })
    ).json().id as string;
    const unauthorized = await runCli(['webhooks', 'test', sub], s.env);
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stdout.split('\n').slice(1)).toEqual([
      'the receiver answered: bad signature',
      `a 401 usually means the receiver checks another secret: give it this subscription's (modelgate webhooks rotate-secret ${sub} makes a new one, shown once)`,
      '',
    ]);
    // Disabled (as a 410 Gone does), then enabled again by its URL.
    const { createWebhookStore } = await import('../src/webhooks/store.js');
    const fineId = (await runCli(['webhooks', 'list', '--json'], s.env)).json().subscriptions.find((x: { url: string }) => x.url === fine).id as string;
    await createWebhookStore(s.ctx.db).disable(fineId, 'the receiver answered 410 Gone at 2026-12-07T09:00:00.000Z', new Date(now).toISOString());
    const whileDisabled = await runCli(['webhooks', 'test', fine], s.env);
    expect(whileDisabled.stdout.trimEnd().split('\n').at(-1)).toBe(
      `note: the subscription is disabled (a 410 Gone): real events are not sent to it; modelgate webhooks enable ${fineId} sends them again`,
    );
    const enabled = await runCli(['webhooks', 'enable', fine], s.env);
    expect([enabled.code, enabled.stdout]).toEqual([
      0,
      `enabled ${fineId} (${fine}): events from now on are delivered to it; those while it was disabled (the receiver answered 410 Gone at 2026-12-07T09:00:00.000Z) are not\ncheck it takes them: modelgate webhooks test ${fineId}\n`,
    ]);
    expect((await runCli(['webhooks', 'enable', fineId], s.env)).stdout).toBe(`${fineId} (${fine}) is enabled already: nothing changed\n`);
    expect((await runCli(['webhooks', 'list', '--json'], s.env)).json().subscriptions.find((x: { id: string }) => x.id === fineId)).toMatchObject({ enabled: true, disabled_reason: null });
    expect((await runCli(['webhooks', 'enable', 'wh_nope'], s.env)).code).toBe(1);
    const missing = await runCli(['webhooks', 'delivery', 'nope'], s.env);
    expect([missing.code, missing.stderr]).toEqual([
      1,
      "error: no webhook delivery nope; modelgate webhooks deliveries lists them (an event's deliveries: --event msg_…; delivered ones are kept 7 days)\n",
    ]);
    const badStatus = await runCli(['webhooks', 'deliveries', '--status', 'failed'], s.env);
    expect([badStatus.code, badStatus.stderr]).toEqual([2, 'error: --status failed is not a delivery status: use pending, delivered, dead, cancelled\n']);
    expect((await runCli(['webhooks', 'deliveries', '--limit', '0'], s.env)).code).toBe(2);
  });
});

for (const dialect of DIALECTS) {
  describe(`redelivering one delivery on ${dialect}`, () => {
    let s: TestServer;
    let rx: Awaited<ReturnType<typeof receiver>>;
    let now = Date.parse('2026-12-07T12:00:00Z');
    // /lost acknowledges everything (and, the story goes, then loses it); /down answers 500 until it is fixed.
    let downFixed = false;
    const api = adminApi(() => s);
    const round = async (advanceMs = 0) => {
      now += advanceMs;
      await s.webhookWorker.tick();
      await s.webhookWorker.idle();
    };
    const subscribe = async (path: string) => {
      const r = await api('POST', '/v1/webhooks', { url: `${rx.base}${path}`, events: ['model.registered'] });
      expect(r.status).toBe(200);
      return { id: r.body.id as string, secret: r.body.secret as string };
    };
    const deliveryTo = async (sub: string) => {
      const rows = (await api('GET', `/v1/webhooks/deliveries?subscription=${sub}`)).body.deliveries as { id: string; status: string; attempts: number; event_id: string }[];
      expect(rows).toHaveLength(1);
      return rows[0];
    };

    beforeAll(async () => {
      rx = await receiver({
        '/lost': (_q, r) => r.writeHead(200).end(),
        '/down': (_q, r) => (downFixed ? r.writeHead(204).end() : r.writeHead(500).end('not today')),
        '/gone': (_q, r) => r.writeHead(410).end(),
      });
      s = await startTestServer({ dialect, jobs: false, clock: { now: () => new Date(now) }, env: { WEBHOOK_RETRY_SCHEDULE: '1s', WEBHOOK_TIMEOUT_MS: '5000' } });
    });
    afterAll(async () => {
      await s?.stop();
      await rx?.close();
    });

    it('a delivered event is sent again with the same webhook-id and body, signed anew; the attempts number on', async () => {
      const lost = await subscribe('/lost');
      await s.ctx.registry.register({ model: 'redeliver', onnx: demo.onnx, actor: 't' });
      await round();
      const first = await deliveryTo(lost.id);
      expect(first).toMatchObject({ status: 'delivered', attempts: 1 });
      now += 60_000;
      const queued = await api('POST', `/v1/webhooks/deliveries/${first.id}/redeliver`);
      expect(queued).toMatchObject({
        status: 200,
        body: { id: first.id, event_id: first.event_id, status: 'pending', was: 'delivered', attempts: 1, requeued: 1, next_attempt_at: new Date(now).toISOString() },
      });
      expect(queued.body.history.map((a: { attempt: number; status_code: number }) => [a.attempt, a.status_code])).toEqual([[1, 200]]);
      await round();
      const got = rx.got.filter((g) => g.path === '/lost');
      expect(got).toHaveLength(2);
      expect(got[1].id).toBe(got[0].id);
      expect(got[1].body).toBe(got[0].body);
      expect(got[1].timestamp - got[0].timestamp).toBe(60);
      for (const g of got) expect(verify(lost.secret, g.id, g.timestamp, g.body, g.signature)).toBe(true);
      const after = (await api('GET', `/v1/webhooks/deliveries/${first.id}`)).body;
      expect(after).toMatchObject({ status: 'delivered', attempts: 2, requeued: 1 });
      expect(after.history.map((a: { attempt: number; status_code: number }) => [a.attempt, a.status_code])).toEqual([
        [1, 200],
        [2, 200],
      ]);
    });

    it('refuses, with what to do: queued already, a disabled or removed subscription, an unknown id or an event id', async () => {
      const down = await subscribe('/down');
      await s.ctx.registry.register({ model: 'redeliver', onnx: demo.onnx, actor: 't' });
      await round();
      const d = await deliveryTo(down.id);
      expect(d).toMatchObject({ status: 'pending', attempts: 1 });
      const pending = await api('POST', `/v1/webhooks/deliveries/${d.id}/redeliver`);
      expect(pending).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT', message: expect.stringMatching(new RegExp(`^delivery ${d.id} is queued already: attempt 2 at 2026-`)) } } });
      // Dead (1 retry on this schedule), then redelivered on its own once the receiver is fixed: delivered at attempt 3.
      await round(2000);
      expect(await deliveryTo(down.id)).toMatchObject({ status: 'dead', attempts: 2 });
      downFixed = true;
      expect(await api('POST', `/v1/webhooks/deliveries/${d.id}/redeliver`)).toMatchObject({ status: 200, body: { was: 'dead', status: 'pending' } });
      expect((await api('GET', '/v1/webhooks')).body.dead_letters).toBe(0);
      await round();
      expect(await deliveryTo(down.id)).toMatchObject({ status: 'delivered', attempts: 3 });

      // A receiver that answered 410 Gone: its delivery is cancelled and the subscription disabled.
      const gone = await subscribe('/gone');
      await s.ctx.registry.register({ model: 'redeliver', onnx: demo.onnx, actor: 't' });
      await round();
      const g = await deliveryTo(gone.id);
      expect(g).toMatchObject({ status: 'cancelled' });
      const disabled = await api('POST', `/v1/webhooks/deliveries/${g.id}/redeliver`);
      expect(disabled).toMatchObject({ status: 409 });
      expect(disabled.body.error.message).toMatch(
        new RegExp(`^subscription ${gone.id} is disabled \\(the receiver answered 410 Gone at .*\\): nothing is sent to it\\. Enable it first \\(modelgate webhooks enable ${gone.id};`),
      );
      // Enabled again, its cancelled delivery can be sent on its own.
      expect((await api('POST', `/v1/webhooks/${gone.id}/enable`)).status).toBe(200);
      expect(await api('POST', `/v1/webhooks/deliveries/${g.id}/redeliver`)).toMatchObject({ status: 200, body: { was: 'cancelled', status: 'pending', attempts: 1 } });
      await round();
      expect(await deliveryTo(gone.id)).toMatchObject({ status: 'cancelled', attempts: 2 });

      // Removed: nothing to send it to.
      expect((await api('DELETE', `/v1/webhooks/${down.id}`)).status).toBe(200);
      const removed = await api('POST', `/v1/webhooks/deliveries/${d.id}/redeliver`);
      expect(removed).toMatchObject({ status: 409, body: { error: { message: expect.stringMatching(new RegExp(`^delivery ${d.id} was to subscription ${down.id}, which was removed`)) } } });

      expect(await api('POST', '/v1/webhooks/deliveries/nope/redeliver')).toMatchObject({ status: 404, body: { error: { message: expect.stringMatching(/^no webhook delivery nope;/) } } });
      expect(await api('POST', `/v1/webhooks/deliveries/${d.event_id}/redeliver`)).toMatchObject({
        status: 404,
        body: {
          error: { message: `${d.event_id} is an event id (the webhook-id header), not a delivery id: modelgate webhooks deliveries --event ${d.event_id} lists its deliveries, one per receiver` },
        },
      });
      // Nothing refused changed the delivery.
      expect((await api('GET', `/v1/webhooks/deliveries/${d.id}`)).body).toMatchObject({ status: 'delivered', attempts: 3, requeued: 1 });
    });

    if (dialect === 'sqlite') {
      it('from the command line: redeliver says what it queued, and a refusal exits 1 with its reason', async () => {
        const { runCli } = await import('./helpers/cli.js');
        const lost = (await runCli(['webhooks', 'list', '--json'], s.env)).json().subscriptions.find((x: { url: string }) => x.url.endsWith('/lost')).id as string;
        const [d] = (await runCli(['webhooks', 'deliveries', '--subscription', lost, '--json'], s.env)).json().deliveries;
        const queued = await runCli(['webhooks', 'redeliver', d.id], s.env);
        expect([queued.code, queued.stderr]).toEqual([0, '']);
        expect(queued.stdout).toBe(
          `queued delivery ${d.id} again (it was delivered after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}): event ${d.event_id} (model.registered) to ${rx.base}/lost, with the same webhook-id\nthe delivery worker of a running server sends it; modelgate webhooks delivery ${d.id} shows how the receiver answers\n`,
        );
        const again = await runCli(['webhooks', 'redeliver', d.id, '--json'], s.env);
        expect(again.code).toBe(1);
        expect(again.json()).toMatchObject({ error: { code: 'CONFLICT', message: expect.stringMatching(new RegExp(`^delivery ${d.id} is queued already: attempt ${d.attempts + 1} at `)) } });
        expect((await runCli(['webhooks', 'delivery', d.id], s.env)).stdout.split('\n')[1]).toMatch(
          new RegExp(`^pending after ${d.attempts} attempts? \\(queued again by hand (once|twice)\\); next attempt at `),
        );
      });
    }
  });
}

describe('receivers on internal addresses (WEBHOOK_ALLOW_PRIVATE off, the default)', () => {
  let s: TestServer;
  let rx: Awaited<ReturnType<typeof receiver>>;
  const logged: { level: string; msg: string; subscription?: string }[] = [];
  const refusalsSaid = () => logged.filter((l) => l.level === 'warn' && /^webhook subscription \S+ is refused by this server/.test(l.msg));
  beforeAll(async () => {
    rx = await receiver({ '/hook': (_req, res) => res.writeHead(200).end() });
    s = await startTestServer({ jobs: false, env: { WEBHOOK_ALLOW_PRIVATE: 'false' }, log: createLogger('info', { write: (l: string) => void logged.push(JSON.parse(l)) }) });
  });
  afterAll(async () => {
    await s?.stop();
    await rx?.close();
  });

  it('a subscription to loopback is refused with what to do', async () => {
    const res = await s.app.inject({ method: 'POST', url: '/v1/webhooks', headers: { ...s.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ url: `${rx.base}/hook` }) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({
      error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/loopback; webhooks to internal addresses are refused unless WEBHOOK_ALLOW_PRIVATE=on/) },
    });
  });

  it('a subscription that leads to an internal address by the time of delivery is not called, and the attempt says why', async () => {
    // As if the name had been re-pointed after the subscription was made (stored directly, past the check).
    const { createWebhookStore } = await import('../src/webhooks/store.js');
    await createWebhookStore(s.ctx.db).add({ id: 'wh_internal', url: `${rx.base}/hook`, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events: ['*'], actor: 't', at: new Date().toISOString() });
    await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    await s.webhookWorker.tick();
    await s.webhookWorker.idle();
    expect(rx.got).toEqual([]);
    const [d] = await s.ctx.webhooks.deliveries({ limit: 10 });
    expect(d).toMatchObject({ subscription_id: 'wh_internal', attempts: 1, status: 'pending', last_error: expect.stringMatching(/127\.0\.0\.1 is in 127\.0\.0\.0\/8, loopback/) });
    // Said once at warn, with what to do, though the check at the first tick and the attempt both met it.
    expect(refusalsSaid()).toEqual([
      expect.objectContaining({
        subscription: 'wh_internal',
        msg: expect.stringMatching(
          /^webhook subscription wh_internal is refused by this server \(url: 127\.0\.0\.1 is in 127\.0\.0\.0\/8, loopback; webhooks to internal addresses are refused unless WEBHOOK_ALLOW_PRIVATE=on\); its deliveries wait, are retried and end as dead letters: point it at a receiver this server may reach/,
        ),
      }),
    ]);
    // A test event is checked the same way; the refusal says what to do, with no other hint.
    const { runCli } = await import('./helpers/cli.js');
    const tested = await runCli(['webhooks', 'test', 'wh_internal'], s.env);
    expect(tested.code).toBe(1);
    expect(tested.stdout).toMatch(
      /^not delivered to http:\/\/127\.0\.0\.1:\d+\/hook: url: 127\.0\.0\.1 is in 127\.0\.0\.0\/8, loopback; webhooks to internal addresses are refused unless WEBHOOK_ALLOW_PRIVATE=on \(after \d+ ms\) \(webhook-id msg_\S+\)\n$/,
    );
    expect(rx.got).toEqual([]);
  });

  it('a subscription stored before internal receivers were refused (modelgate 0.0.1) is said in the log when a server starts, before any event', async () => {
    const { createWebhookStore } = await import('../src/webhooks/store.js');
    await createWebhookStore(s.ctx.db).add({ id: 'wh_upgraded', url: `${rx.base}/hook`, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', events: ['*'], actor: 't', at: new Date().toISOString() });
    const before = logged.length;
    // A server started on that database: its first tick as the delivery leader checks every enabled subscription.
    const again = await startTestServer({
      jobs: false,
      db: s.db,
      dataDir: s.dataDir,
      env: { WEBHOOK_ALLOW_PRIVATE: 'false' },
      log: createLogger('info', { write: (l: string) => void logged.push(JSON.parse(l)) }),
    });
    try {
      await s.webhookWorker.stop();
      await again.webhookWorker.tick();
      await again.webhookWorker.idle();
      const said = refusalsSaid().filter((l) => logged.indexOf(l) >= before);
      expect(said.map((l) => l.subscription).sort()).toEqual(['wh_internal', 'wh_upgraded']);
      expect(rx.got).toEqual([]);
      // Listed as enabled but refused, with why, where it read as enabled and fine.
      const listed = await again.app.inject({ method: 'GET', url: '/v1/webhooks', headers: again.auth });
      expect(listed.json().subscriptions.find((x: { id: string }) => x.id === 'wh_upgraded')).toMatchObject({
        enabled: true,
        refused: expect.stringMatching(/^url: 127\.0\.0\.1 is in 127\.0\.0\.0\/8, loopback; webhooks to internal addresses are refused unless WEBHOOK_ALLOW_PRIVATE=on$/),
      });
      const { runCli } = await import('./helpers/cli.js');
      const cli = await runCli(['webhooks', 'list'], again.env);
      expect(cli.stdout).toMatch(
        /wh_upgraded\s+http:\/\/127\.0\.0\.1:\d+\/hook\s+\*\s+yes, but refused \(url: 127\.0\.0\.1 is in 127\.0\.0\.0\/8, loopback; webhooks to internal addresses are refused unless WEBHOOK_ALLOW_PRIVATE=on\)/,
      );
    } finally {
      await again.stop();
    }
  });
});
