// Who a request acts as and what it may do: the vocabulary every credential (admin and service
// tokens, API keys, JWTs) maps to. The server's auth hook checks routes against it.

/** What a credential may be allowed: read, infer, feedback; admin implies all three. */
export const SCOPES = ['read', 'infer', 'feedback', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
/**
 * What a route requires; `public` routes (health, metrics, docs) need nothing, `signed-in`
 * routes any valid credential whatever its scopes.
 */
export type RouteScope = Scope | 'public' | 'signed-in';

export interface Principal {
  id: string;
  kind: 'admin-token' | 'service-token' | 'api-key' | 'jwt' | 'anonymous';
  scopes: ReadonlySet<Scope>;
  /** API keys: the key's name, for logs and listings. */
  name?: string;
  /** API keys: their own rate limit (e.g. 100/s), else the configured default applies. */
  rateLimit?: string;
}

/**
 * One way to turn a bearer token into a principal. The admin token is the first; API keys and
 * JWTs slot in as further authenticators without touching routes. Returns undefined when the
 * token is not one of its own.
 */
export interface Authenticator {
  authenticate(token: string): Promise<Principal | undefined> | Principal | undefined;
}
