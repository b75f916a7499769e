export { createAccessStore, type AccessStore, type ApiKeyRecord } from './store.js';
export { createAccessService, type AccessService, type ApiKey, type CreateKeyInput } from './service.js';
export { ApiKeyAuthenticator, serviceTokenAuthenticator, scopeSet } from './authenticator.js';
export { accessRoutes } from './routes.js';
export { parseRate, type Rate } from './rate.js';
export { classifyToken, generateToken, hashToken, TOKEN_LENGTH } from './token.js';
export { MemoryRateLimiter, type RateLimiter, type RateDecision, type RateState } from './limiter.js';
export { RedisRateLimiter, createRateLimiter, redisKey } from './redis-limiter.js';
export { installRateLimit } from './rate-limit-hook.js';
