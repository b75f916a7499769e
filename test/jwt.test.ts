import http from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowPayload } from '../src/training/index.js';
import { demoModel } from './helpers/fixtures.js';
import { freePort } from './helpers/redis.js';
import { startTestServer, type TestServer } from './helpers/server.js';

type SigningKey = Parameters<SignJWT['sign']>[0];

const SECRET = 'jwt-test-secret-0123456789abcdef0123456789';
const demo = demoModel();
const row = rowPayload(demo.holdout.data, 0);

async function withModel(s: TestServer) {
  await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
  await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
  await s.pool.refresh(true);
}

const errorOf = (res: { statusCode: number; json(): unknown }) => ({ status: res.statusCode, ...(res.json() as { error: { code: string; message: string } }).error });

describe('JWT bearer tokens, HS256', () => {
  let s: TestServer;
  const key = new TextEncoder().encode(SECRET);
  const sign = (claims: Record<string, unknown>, opts: { exp?: string | number; iss?: string; secret?: Uint8Array; alg?: string } = {}) => {
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: opts.alg ?? 'HS256' })
      .setIssuedAt()
      .setIssuer(opts.iss ?? 'https://idp.example')
      .setAudience('modelgate');
    if (opts.exp !== undefined) jwt.setExpirationTime(opts.exp);
    else jwt.setExpirationTime('5m');
    return jwt.sign(opts.secret ?? key);
  };
  beforeAll(async () => {
    s = await startTestServer({ env: { JWT_SECRET: SECRET, JWT_ISSUER: 'https://idp.example', JWT_AUDIENCE: 'modelgate', RATE_LIMIT_DEFAULT: '2/10s' } });
    await withModel(s);
  });
  afterAll(() => s?.stop());

  const infer = (token: string) =>
    s.app.inject({ method: 'POST', url: '/v1/infer', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify({ model: 'hotel', payload: row }) });
  const models = (token: string) => s.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${token}` } });

  it('scopes come from the scope claim; unknown scopes are ignored', async () => {
    const t = await sign({ sub: 'svc-a', scope: 'infer openid profile' });
    expect((await infer(t)).statusCode).toBe(200);
    expect(errorOf(await models(t))).toMatchObject({ status: 403, message: expect.stringContaining('read scope') });
    const arr = await sign({ sub: 'svc-b', scope: ['read'] });
    expect((await models(arr)).statusCode).toBe(200);
    // HS384 and HS512 with the same secret, as some identity providers sign.
    for (const alg of ['HS384', 'HS512']) expect((await models(await sign({ sub: 'svc-c', scope: 'read' }, { alg }))).statusCode, alg).toBe(200);
  });

  it('expired, wrong signature, wrong issuer, no subject, and alg none are 401 with the reason', async () => {
    expect(errorOf(await infer(await sign({ sub: 'x', scope: 'infer' }, { exp: Math.floor(Date.now() / 1000) - 60 })))).toMatchObject({ status: 401, message: expect.stringMatching(/expired/) });
    expect(errorOf(await infer(await sign({ sub: 'x', scope: 'infer' }, { secret: new TextEncoder().encode('another-secret-0123456789abcdef0123') })))).toMatchObject({
      status: 401,
      message: expect.stringMatching(/signature/),
    });
    expect(errorOf(await infer(await sign({ sub: 'x', scope: 'infer' }, { iss: 'https://idp.example/' })))).toMatchObject({
      status: 401,
      message: 'invalid JWT: claim iss is "https://idp.example/", not JWT_ISSUER "https://idp.example"',
    });
    const otherAudience = await new SignJWT({ sub: 'x', scope: 'infer' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://idp.example')
      .setAudience(['api', 'web'])
      .setExpirationTime('5m')
      .sign(key);
    expect(errorOf(await infer(otherAudience))).toMatchObject({ status: 401, message: 'invalid JWT: claim aud is ["api","web"], which does not name JWT_AUDIENCE "modelgate"' });
    expect(errorOf(await infer(await sign({ scope: 'infer' })))).toMatchObject({ status: 401, message: expect.stringMatching(/sub/) });
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', scope: 'admin', iss: 'https://idp.example', aud: 'modelgate' })).toString('base64url')}.sig`;
    expect(errorOf(await infer(unsigned))).toMatchObject({ status: 401 });
  });

  it('rate limits apply per subject', async () => {
    const t = await sign({ sub: 'limited', scope: 'infer' });
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await infer(t)).statusCode);
    expect(codes).toEqual([200, 200, 429]);
    // Another token for the same subject shares the limit; another subject does not.
    expect((await infer(await sign({ sub: 'limited', scope: 'infer' }))).statusCode).toBe(429);
    expect((await infer(await sign({ sub: 'other', scope: 'infer' }))).statusCode).toBe(200);
    // One series for every JWT caller (2 refusals of "limited" above, 2 of "other" here): subjects are as many as the identity provider's users, and each would be a series for good.
    for (let i = 0; i < 3; i++) await infer(await sign({ sub: 'other', scope: 'infer' }));
    const metrics = (await s.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^modelgate_rate_limited_total\{key="jwt"\} 4$/m);
    expect(metrics).not.toMatch(/modelgate_rate_limited_total\{key="jwt:/);
  });
});

describe('JWT_SECRET being replaced: tokens signed with JWT_SECRET_PREVIOUS are accepted until it is unset', () => {
  const NEW = 'jwt-new-secret-0123456789abcdef0123456789';
  let s: TestServer;
  const enc = (v: string) => new TextEncoder().encode(v);
  const sign = (secret: string, sub: string, exp: string | number = '5m') => new SignJWT({ sub, scope: 'read' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(enc(secret));
  const models = (token: string) => s.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${token}` } });
  const previousUses = async () =>
    Number(/^modelgate_previous_secret_requests_total{secret="JWT_SECRET_PREVIOUS"} (\d+)/m.exec((await s.app.inject({ method: 'GET', url: '/metrics' })).body)?.[1] ?? 0);
  beforeAll(async () => {
    s = await startTestServer({ env: { JWT_SECRET: NEW, JWT_SECRET_PREVIOUS: SECRET } });
  });
  afterAll(() => s?.stop());

  it('the new and the previous secret verify, only the previous is counted; anything else is refused with the usual reason', async () => {
    expect((await models(await sign(NEW, 'moved'))).statusCode).toBe(200);
    expect(await previousUses()).toBe(0);
    expect((await models(await sign(SECRET, 'not-yet'))).statusCode).toBe(200);
    expect(await previousUses()).toBe(1);
    expect(errorOf(await models(await sign('a-third-secret-0123456789abcdef012345', 'x')))).toMatchObject({ status: 401, message: 'invalid JWT: the signature does not verify' });
    expect(errorOf(await models(await sign(SECRET, 'late', Math.floor(Date.now() / 1000) - 60)))).toMatchObject({ status: 401, message: expect.stringMatching(/expired/) });
    expect(await previousUses()).toBe(1);
  });

  it('is refused at start alone or equal to JWT_SECRET', async () => {
    const { loadConfig } = await import('../src/config.js');
    const base = { MODELGATE_AUTH: 'off', MODELGATE_DATA_DIR: '/tmp/x' };
    expect(() => loadConfig({ ...base, JWT_SECRET_PREVIOUS: SECRET })).toThrow(/JWT_SECRET_PREVIOUS is set without JWT_SECRET/);
    expect(() => loadConfig({ ...base, JWT_SECRET: SECRET, JWT_SECRET_PREVIOUS: SECRET })).toThrow(/JWT_SECRET_PREVIOUS is the same as JWT_SECRET/);
  });
});

describe('JWT bearer tokens, RSA, RSA-PSS, ECDSA and EdDSA from a JWKS URL', () => {
  let s: TestServer;
  let jwks: http.Server;
  let port = 0;
  type Pair = Awaited<ReturnType<typeof generateKeyPair>>;
  const keys: { rs: Pair; es: Pair; stranger: Pair } = {} as never;
  // What other identity providers sign with: one key for each, published with its algorithm.
  const others = ['RS512', 'PS256', 'ES384', 'EdDSA'] as const;
  const otherKeys = new Map<string, Pair>();
  beforeAll(async () => {
    keys.rs = await generateKeyPair('RS256');
    keys.es = await generateKeyPair('ES256');
    keys.stranger = await generateKeyPair('RS256');
    for (const alg of others) otherKeys.set(alg, await generateKeyPair(alg));
    const published: JWK[] = [
      { ...(await exportJWK(keys.rs.publicKey)), kid: 'rs-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(keys.es.publicKey)), kid: 'es-1', alg: 'ES256', use: 'sig' },
      ...(await Promise.all(others.map(async (alg) => ({ ...(await exportJWK(otherKeys.get(alg)!.publicKey)), kid: `${alg}-1`, alg, use: 'sig' })))),
    ];
    port = await freePort();
    jwks = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((r) => jwks.listen(port, '127.0.0.1', r));
    s = await startTestServer({ env: { JWT_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`, JWT_SCOPES_CLAIM: 'permissions' } });
    await withModel(s);
  });
  afterAll(async () => {
    await s?.stop();
    jwks?.close();
  });

  const sign = (alg: string, kid: string, privateKey: SigningKey, claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg, kid }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
  const infer = (token: string) =>
    s.app.inject({ method: 'POST', url: '/v1/infer', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify({ model: 'hotel', payload: row }) });

  it('accepts tokens signed by either published key, with scopes from the configured claim', async () => {
    expect((await infer(await sign('RS256', 'rs-1', keys.rs.privateKey, { sub: 'a', permissions: ['infer'] }))).statusCode).toBe(200);
    expect((await infer(await sign('ES256', 'es-1', keys.es.privateKey, { sub: 'b', permissions: 'infer' }))).statusCode).toBe(200);
    expect(errorOf(await infer(await sign('ES256', 'es-1', keys.es.privateKey, { sub: 'b', scope: 'infer' })))).toMatchObject({ status: 403 });
  });

  it('RS512, PS256, ES384 and EdDSA keys verify their tokens; a token whose algorithm does not fit its key, or is HS256 without JWT_SECRET, is refused', async () => {
    for (const alg of others) {
      const res = await infer(await sign(alg, `${alg}-1`, otherKeys.get(alg)!.privateKey, { sub: alg, permissions: 'infer' }));
      expect(res.statusCode, `${alg}: ${res.body}`).toBe(200);
    }
    // An RS512 token naming the PS256 key (both RSA): that key is published for PS256 only.
    expect(errorOf(await infer(await sign('RS512', 'PS256-1', otherKeys.get('RS512')!.privateKey, { sub: 'x', permissions: 'infer' })))).toMatchObject({ status: 401 });
    const hs = await sign('HS256', 'rs-1', new TextEncoder().encode(SECRET), { sub: 'x', permissions: 'infer' });
    expect(errorOf(await infer(hs))).toMatchObject({ status: 401, message: expect.stringMatching(/algorithm is not accepted/) });
  });

  it('a key that is not published is refused; an unreachable JWKS is a 503', async () => {
    expect(errorOf(await infer(await sign('RS256', 'rs-9', keys.stranger.privateKey, { sub: 'c', permissions: 'infer' })))).toMatchObject({ status: 401, message: expect.stringMatching(/kid|key/) });
    const down = await startTestServer({ env: { JWT_JWKS_URL: `http://127.0.0.1:${await freePort()}/jwks.json` } });
    try {
      const t = await sign('RS256', 'rs-1', keys.rs.privateKey, { sub: 'a', scope: 'infer' });
      const res = await down.app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: `Bearer ${t}` } });
      expect(errorOf(res)).toMatchObject({ status: 503, code: 'UNAVAILABLE', message: expect.stringMatching(/JWKS/) });
    } finally {
      await down.stop();
    }
  });
});
