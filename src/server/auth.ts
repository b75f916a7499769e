import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { AppError } from '../lib/errors.js';
import { routeHooks } from '../lib/route-hooks.js';
import { SCOPES, type Authenticator, type Principal, type RouteScope, type Scope } from '../access/index.js';

export type { Authenticator, Principal, RouteScope, Scope };

declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: RouteScope;
  }
  interface FastifyRequest {
    principal?: Principal;
  }
}

const ALL: ReadonlySet<Scope> = new Set(SCOPES);

/**
 * Constant-time comparison: the time taken depends only on the length, never on how many
 * leading characters match. (Token length is not a secret: it is fixed by the format.)
 */
function sameToken(given: string, expected: Buffer): boolean {
  // Every API-key request passes here first: measure before copying (the length is no secret).
  return Buffer.byteLength(given, 'utf8') === expected.length && timingSafeEqual(Buffer.from(given, 'utf8'), expected);
}

/**
 * The admin token, and while it is being replaced the previous one (MODELGATE_ADMIN_TOKEN_PREVIOUS):
 * replicas roll one at a time, so for a while some know only the old token and some the new; a
 * caller that keeps the old one until every replica knows both is never refused. Changes made
 * with the previous token are recorded as `admin-token-previous`, and `previous.onUse` hears of
 * each use, so an operator can tell when nobody sends it any more.
 */
export function adminTokenAuthenticator(token: string, previous?: { value: string; onUse: () => void }): Authenticator {
  const expected = Buffer.from(token, 'utf8');
  const principal: Principal = { id: 'admin-token', kind: 'admin-token', scopes: ALL };
  const old = previous ? Buffer.from(previous.value, 'utf8') : undefined;
  const oldPrincipal: Principal = { id: 'admin-token-previous', kind: 'admin-token', scopes: ALL };
  return {
    authenticate: (given) => {
      if (sameToken(given, expected)) return principal;
      if (old && sameToken(given, old)) {
        previous!.onUse();
        return oldPrincipal;
      }
      return undefined;
    },
  };
}

export function bearerToken(request: FastifyRequest): string | undefined {
  const h = request.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

export interface AuthOptions {
  enabled: boolean;
  authenticators: Authenticator[];
}

type Found = Principal | undefined | Promise<Principal | undefined>;

/** The first authenticator, from `from` on, that knows the token; synchronous while they answer synchronously (a cached API key). */
function authenticateFrom(authenticators: Authenticator[], token: string, from: number): Found {
  for (let i = from; i < authenticators.length; i++) {
    const found = authenticators[i].authenticate(token);
    if (found instanceof Promise) return found.then((p) => p ?? authenticateFrom(authenticators, token, i + 1));
    if (found) return found;
  }
  return undefined;
}

/** A request whose Authorization header has no bearer token: what it sent instead, when it sent something. */
function missingCredentials(header: string | undefined): AppError {
  const scheme = header?.trim().split(/\s+/)[0];
  if (!scheme) return new AppError('UNAUTHORIZED', 'missing credentials: send Authorization: Bearer <token>');
  if (/^bearer$/i.test(scheme)) return new AppError('UNAUTHORIZED', 'Authorization: Bearer has no token after it; send Authorization: Bearer <token>');
  // The scheme only: a Basic header's credentials stay out of the message, which is logged.
  return new AppError('UNAUTHORIZED', `Authorization: ${scheme.slice(0, 20)} is not accepted here; send the token as Authorization: Bearer <token>`);
}

/** Who is refused, with the scopes they have and how to get the one the route needs. */
function forbidden(principal: Principal, scope: Scope): AppError {
  const who = principal.kind === 'api-key' ? `the API key ${principal.name ?? principal.id}` : `this ${principal.kind === 'jwt' ? 'JWT' : 'token'}`;
  const has = [...principal.scopes];
  return new AppError(
    'FORBIDDEN',
    `${who} lacks the ${scope} scope this route needs (it has ${has.length ? has.join(', ') : 'none'}); use a key with it (modelgate keys create --scopes ${scope}) or ask an admin`,
    { required_scope: scope, scopes: has },
  );
}

const INVALID_TOKEN = "invalid token: it is not this server's admin token (MODELGATE_ADMIN_TOKEN), a service token or a known API key; check the Authorization header and which server you are calling";

/**
 * Each route that needs credentials gets its own onRequest hook with its scope fixed when the
 * route is added (public routes get none): a global hook would look the scope up on every
 * request, and Fastify builds `request.routeOptions` afresh each time it is read. The hook is
 * callback-style and stays synchronous for credentials known without a lookup, so a request
 * with a cached API key allocates no promise here. Install before any route is added.
 */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const anonymous: Principal = { id: 'anonymous', kind: 'anonymous', scopes: ALL };
  app.decorateRequest('principal', undefined);
  const grant = (request: FastifyRequest, scope: RouteScope, principal: Principal | undefined): AppError | undefined => {
    if (!principal) return new AppError('UNAUTHORIZED', INVALID_TOKEN);
    if (scope !== 'signed-in' && !principal.scopes.has(scope as Scope)) return forbidden(principal, scope as Scope);
    request.principal = principal;
    return undefined;
  };
  const guard =
    (scope: RouteScope): onRequestHookHandler =>
    (request, _reply, done) => {
      if (!opts.enabled) {
        request.principal = anonymous;
        return done();
      }
      const token = bearerToken(request);
      if (!token) return done(missingCredentials(request.headers.authorization));
      let found: Found;
      try {
        found = authenticateFrom(opts.authenticators, token, 0);
      } catch (e) {
        return done(e as Error);
      }
      if (found instanceof Promise) found.then((p) => done(grant(request, scope, p)), done);
      else done(grant(request, scope, found));
    };
  app.addHook('onRoute', (route) => {
    const scope = route.config?.scope ?? 'public';
    if (scope === 'public') return;
    route.onRequest = [guard(scope), ...routeHooks(route.onRequest)];
  });
}

/** Who did it, for audit fields. */
export const actorOf = (request: FastifyRequest) => request.principal?.id ?? 'anonymous';
