import type * as Jose from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { AppError, errorMessage } from '../lib/errors.js';
import { SCOPES, type Authenticator, type Principal, type Scope } from './credentials.js';
import { scopeSet } from './authenticator.js';

export interface JwtOptions {
  /** HS256 (or HS384, HS512) shared secret. */
  secret?: string;
  /** The shared secret being replaced: a token whose signature the secret does not verify is tried with it (onUse hears of each such token). */
  previousSecret?: { value: string; onUse: () => void };
  /** JWKS URL for RSA, RSA-PSS, ECDSA and EdDSA keys (fetched and cached by jose, refreshed on unknown kid). */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** Claim holding the scopes: a space-separated string ("infer read") or an array. */
  scopesClaim: string;
  /** Claim naming the caller (rate limits and audit are per caller). */
  subjectClaim?: string;
}

// jose is loaded with the first token to verify: commands and servers without JWTs never pay for it.
let josePromise: Promise<typeof Jose> | undefined;
const loadJose = () => (josePromise ??= import('jose'));

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** With JWT_SECRET. */
const SECRET_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
/**
 * With JWT_JWKS_URL: what identity providers sign with (RS256 most, ES256, PS256 and EdDSA for
 * some). A key's type must fit the token's algorithm, so an RSA key cannot verify an HS token.
 */
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

function claimScopes(payload: JWTPayload, claim: string): Scope[] {
  const raw = payload[claim];
  const list = typeof raw === 'string' ? raw.split(/[\s,]+/) : Array.isArray(raw) ? raw.map(String) : [];
  // Scopes modelgate does not know (an identity provider's own) are ignored, not an error.
  return list.filter((s): s is Scope => (SCOPES as readonly string[]).includes(s));
}

/**
 * Bearer JWTs from an identity provider: HS256/384/512 with a shared secret, or RSA, RSA-PSS,
 * ECDSA or EdDSA with keys from a JWKS URL. Expiry, not-before, issuer and audience are checked;
 * the scopes come from a configurable claim. A token that is not JWT-shaped is left to other
 * authenticators.
 */
export function jwtAuthenticator(o: JwtOptions): Authenticator {
  const secret = o.secret ? new TextEncoder().encode(o.secret) : undefined;
  const previous = o.secret && o.previousSecret ? new TextEncoder().encode(o.previousSecret.value) : undefined;
  // Made with the first token, then kept: it caches the provider's keys.
  let jwks: JWTVerifyGetKey | undefined;
  const subjectClaim = o.subjectClaim ?? 'sub';
  // Start loading now, so the first request does not wait for it (a failure shows on that request).
  loadJose().catch(() => undefined);
  return {
    // A token that is not JWT-shaped is passed on at once, without a promise.
    authenticate: (token: string) => (JWT_SHAPE.test(token) ? verify(token) : undefined),
  };

  async function verify(token: string): Promise<Principal | undefined> {
    const jose = await loadJose();
    const { createRemoteJWKSet, errors, jwtVerify } = jose;
    if (o.jwksUrl) jwks ??= createRemoteJWKSet(new URL(o.jwksUrl), { timeoutDuration: 3000, cooldownDuration: 30_000 });
    let payload: JWTPayload;
    let viaJwks = false;
    try {
      const checks = { issuer: o.issuer, audience: o.audience, clockTolerance: 5 };
      if (secret && (!jwks || algOf(token, jose)?.startsWith('HS'))) {
        const options = { ...checks, algorithms: SECRET_ALGORITHMS };
        try {
          ({ payload } = await jwtVerify(token, secret, options));
        } catch (e) {
          // Signed with the secret being replaced (the identity provider has not moved yet)?
          if (!previous || !(e instanceof errors.JWSSignatureVerificationFailed)) throw e;
          ({ payload } = await jwtVerify(token, previous, options));
          o.previousSecret!.onUse();
        }
      } else if (jwks) {
        viaJwks = true;
        ({ payload } = await jwtVerify(token, jwks, { ...checks, algorithms: JWKS_ALGORITHMS }));
      } else return undefined;
    } catch (e) {
      // The key source failing is not the caller's fault: 503, so they retry instead of re-authenticating.
      if (viaJwks && (e instanceof errors.JWKSTimeout || !(e instanceof errors.JOSEError)))
        throw new AppError('UNAVAILABLE', `cannot verify the JWT right now: the JWKS at ${o.jwksUrl} could not be fetched (${errorMessage(e)})`);
      throw new AppError('UNAUTHORIZED', `invalid JWT: ${reason(e, errors, o)}`);
    }
    const sub = payload[subjectClaim];
    if (typeof sub !== 'string' || !sub) throw new AppError('UNAUTHORIZED', `invalid JWT: no ${subjectClaim} claim naming the caller`);
    return { id: `jwt:${sub}`, kind: 'jwt', scopes: scopeSet(claimScopes(payload, o.scopesClaim)), name: sub };
  }
}

function algOf(token: string, jose: typeof Jose): string | undefined {
  try {
    return jose.decodeProtectedHeader(token).alg;
  } catch {
    return undefined;
  }
}

function reason(e: unknown, errors: typeof Jose.errors, o: JwtOptions): string {
  if (e instanceof errors.JWTExpired) return 'it has expired; get a new token';
  if (e instanceof errors.JWTClaimValidationFailed) {
    // Saying what the token holds settles the usual slip, a trailing slash on an issuer URL.
    const held = JSON.stringify(e.payload[e.claim] ?? null);
    if (e.reason === 'check_failed' && e.claim === 'iss') return `claim iss is ${held}, not JWT_ISSUER ${JSON.stringify(o.issuer)}`;
    if (e.reason === 'check_failed' && e.claim === 'aud') return `claim aud is ${held}, which does not name JWT_AUDIENCE ${JSON.stringify(o.audience)}`;
    return `claim ${e.claim} ${e.reason === 'check_failed' ? 'does not match' : e.reason}`;
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (e instanceof errors.JOSEAlgNotAllowed) return `its algorithm is not accepted (${SECRET_ALGORITHMS.join(', ')} with JWT_SECRET; ${JWKS_ALGORITHMS.join(', ')} with JWT_JWKS_URL)`;
  if (e instanceof errors.JWKSNoMatchingKey)
    return 'no key in the JWKS matches its kid and algorithm (the JWKS is fetched again for a new kid at most every 30 s: if the identity provider has just rotated its keys, retry then)';
  return errorMessage(e);
}
