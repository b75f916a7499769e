import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../lib/errors.js';
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
export function adminTokenAuthenticator(token: string): Authenticator {
  const expected = Buffer.from(token, 'utf8');
  const principal: Principal = { id: 'admin-token', kind: 'admin-token', scopes: ALL };
  return {
    authenticate: (given) => {
      // Every API-key request passes here first: measure before copying (the length is no secret).
      if (Buffer.byteLength(given, 'utf8') !== expected.length) return undefined;
      return timingSafeEqual(Buffer.from(given, 'utf8'), expected) ? principal : undefined;
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

export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const anonymous: Principal = { id: 'anonymous', kind: 'anonymous', scopes: ALL };
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    const scope = request.routeOptions.config?.scope ?? 'public';
    if (scope === 'public') return;
    if (!opts.enabled) {
      request.principal = anonymous;
      return;
    }
    const token = bearerToken(request);
    if (!token) throw new AppError('UNAUTHORIZED', 'missing credentials: send Authorization: Bearer <token>');
    let principal: Principal | undefined;
    for (const a of opts.authenticators) {
      principal = await a.authenticate(token);
      if (principal) break;
    }
    if (!principal) {
      throw new AppError(
        'UNAUTHORIZED',
        "invalid token: it is not this server's admin token (MODELGATE_ADMIN_TOKEN), a service token or a known API key; check the Authorization header and which server you are calling",
      );
    }
    if (scope !== 'signed-in' && !principal.scopes.has(scope)) throw new AppError('FORBIDDEN', `this token lacks the ${scope} scope`, { required_scope: scope });
    request.principal = principal;
  });
}

/** Who did it, for audit fields. */
export const actorOf = (request: FastifyRequest) => request.principal?.id ?? 'anonymous';
