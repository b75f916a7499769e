import type { Command } from 'commander';
import { createRateLimiter, redisSettings, type ApiKey, type RateLimiter } from '../access/index.js';
import { redactUrl } from '../lib/redact-url.js';
import { AppError } from '../lib/errors.js';
import { formatDuration, parseDuration } from '../lib/duration.js';
import type { Context } from '../server/context.js';
import { cliActor, withContext } from './context.js';
import { emit, table, type OutputOptions } from './output.js';

/** Until when a rotated key's replaced token still works, while it does (the grace of keys rotate). */
const oldTokenUntil = (k: ApiKey, now: number) => (k.status !== 'revoked' && k.previous_valid_until && Date.parse(k.previous_valid_until) > now ? k.previous_valid_until : '-');

const listing = (keys: ApiKey[], now = Date.now()) =>
  keys.length === 0
    ? 'no API keys yet; create one with: modelgate keys create --name NAME --scopes infer'
    : table(
        keys.map((k) => ({ ...k, scopes: k.scopes.join(','), expires_at: k.expires_at ?? 'never', old_token_until: oldTokenUntil(k, now), last_used_at: k.last_used_at ?? 'never' })),
        ['id', 'name', 'prefix', 'scopes', 'rate_limit', 'status', 'expires_at', 'old_token_until', 'last_used_at'],
      );

/**
 * The key a command names: its id, or the name it was created with (people type "app", not
 * key_1cf3e3df58497f93), or the token prefix keys list shows. A name several keys share is
 * refused with their ids; a revoked key counts only when no live key has that name.
 */
export async function keyByReference(ctx: Context, ref: string): Promise<string> {
  const keys = await ctx.access.list();
  if (keys.some((k) => k.id === ref)) return ref;
  const named = keys.filter((k) => k.name === ref);
  const live = named.filter((k) => k.status !== 'revoked');
  const byName = live.length ? live : named;
  if (byName.length === 1) return byName[0].id;
  if (byName.length > 1) throw new AppError('BAD_REQUEST', `${byName.length} API keys are named ${ref}: ${byName.map((k) => `${k.id} (${k.status})`).join(', ')}; give the id`);
  const prefixed = keys.filter((k) => k.prefix === ref);
  if (prefixed.length === 1) return prefixed[0].id;
  throw new AppError('NOT_FOUND', `no API key ${ref} (as an id, a name or a prefix); modelgate keys list shows them`);
}

const shownOnce = (token: string) => `token (shown once; store it now, only its hash is kept):\n  ${token}`;

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('API keys: create, list, revoke, rotate');

  keys
    .command('create')
    .description('Create an API key and print its token once')
    .requiredOption('--name <name>', 'who or what uses the key, e.g. checkout-service')
    .requiredOption('--scopes <list>', 'comma-separated: infer, read, feedback, admin (admin implies the others)')
    .option('--rate <n/window>', 'rate limit for this key, e.g. 100/s or 6000/m (default RATE_LIMIT_DEFAULT)')
    .option('--expires <when>', 'lifetime (90d) or the time it ends (2027-06-30, 2027-06-30T18:00:00Z); default: never expires')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  modelgate keys create --name checkout --scopes infer --rate 100/s --expires 90d\n  modelgate keys create --name ops --scopes admin --json')
    .action(async (o: OutputOptions & { name: string; scopes: string; rate?: string; expires?: string }) =>
      withContext(o, async (ctx) => {
        const r = await ctx.access.create({ name: o.name, scopes: o.scopes.split(','), rate: o.rate, expires: o.expires, actor: cliActor() });
        emit(o, r, () => `created ${r.key.id} (${r.key.name}) with scopes ${r.key.scopes.join(',')}${r.key.expires_at ? `, expires ${r.key.expires_at}` : ''}\n${shownOnce(r.token)}`);
      }),
    );

  keys
    .command('list')
    .description('Every API key with its scopes, limits and status (never a token)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate keys list --json')
    .action(async (o: OutputOptions) =>
      withContext(o, async (ctx) => {
        const all = await ctx.access.list();
        emit(o, { keys: all }, () => listing(all));
      }),
    );

  keys
    .command('revoke')
    .description('Revoke a key: every replica refuses it within a second (RELOAD_INTERVAL_MS)')
    .argument('<key>', 'the key: its id, its name, or its prefix, from keys list')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  modelgate keys revoke key_3f9c2a7d11b04e52\n  modelgate keys revoke checkout-service --json')
    .action(async (id: string, o: OutputOptions) =>
      withContext(o, async (ctx) => {
        const k = await ctx.access.revoke(await keyByReference(ctx, id), cliActor());
        emit(o, k, () => `revoked ${k.id} (${k.name})`);
      }),
    );

  keys
    .command('rotate')
    .description('Give a key a new token; the old one keeps working for the grace period')
    .argument('<key>', 'the key: its id, its name, or its prefix, from keys list')
    .option('--grace <duration>', 'how long the old token still works, e.g. 24h; 0s ends it at once', '24h')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate keys rotate key_3f9c2a7d11b04e52 --grace 24h')
    .action(async (id: string, o: OutputOptions & { grace: string }) =>
      withContext(o, async (ctx) => {
        const r = await ctx.access.rotate(await keyByReference(ctx, id), parseDuration(o.grace, '--grace'), cliActor());
        emit(o, r, () => `rotated ${r.key.id} (${r.key.name}); the old token ${r.key.previous_valid_until ? `works until ${r.key.previous_valid_until}` : 'no longer works'}\n${shownOnce(r.token)}`);
      }),
    );
}

export function registerRateLimitCommands(program: Command): void {
  const rl = program.command('ratelimit').description("A key's rate-limit counters in Redis: show or reset");
  const open = async (ctx: Context) => {
    if (!ctx.config.REDIS_URL) {
      throw new AppError('BAD_REQUEST', "REDIS_URL is not set: limits are counted in each server's memory, so only the server knows them; ask it with GET /v1/keys/ID/ratelimit (DELETE to reset)");
    }
    // What the limiter would log is what this command says when it fails: once is enough.
    const log = ctx.log.child({}, { level: 'silent' });
    // A one-off command waits longer for each answer than a server does (250 ms, which keeps
    // requests from waiting on Redis): over a slow or busy link the handshake and the ready check
    // may take longer, and a TLS refusal arrives after the handshake; with the server's timeout
    // the command said only "Command timed out".
    const limiter = createRateLimiter({ ...redisSettings(ctx.config), onFailure: 'closed', log, timeoutMs: 2000 });
    if (!(await limiter.ready(5000))) {
      const reason = limiter.unavailableReason() ?? 'no answer within 5 s';
      await limiter.close();
      // A reason that starts with the setting already says what to change (a replica, a cluster node).
      const next = reason.startsWith('REDIS_URL') ? '' : '; check REDIS_URL and that Redis is running';
      throw new AppError('UNAVAILABLE', `Redis at ${redactUrl(ctx.config.REDIS_URL)} cannot count rate limits: ${reason}${next}`);
    }
    return limiter;
  };
  const rateOf = (ctx: Context, id: string) => ctx.access.rateFor(id, ctx.config.RATE_LIMIT_DEFAULT);
  const show = async (ctx: Context, limiter: RateLimiter, id: string) => {
    const s = await limiter.peek(id, await rateOf(ctx, id));
    return { key: id, backend: limiter.backend, limit: s.limit, window_ms: s.windowMs, used: s.used, remaining: s.remaining, reset_ms: s.resetMs };
  };
  const describe = (s: Awaited<ReturnType<typeof show>>) =>
    `${s.key}: ${s.used} of ${s.limit} per ${formatDuration(s.window_ms)} used, ${s.remaining} left; window resets in ${(s.reset_ms / 1000).toFixed(1)} s`;

  for (const [name, reset] of [
    ['show', false],
    ['reset', true],
  ] as const) {
    rl.command(name)
      .description(reset ? "Clear a key's counters, so it may send its full rate again" : 'How much of its rate a key has used in the sliding window ending now')
      .requiredOption('--key <key>', 'the API key: its id, its name, or its prefix, from keys list')
      .option('--json', 'machine-readable output')
      .addHelpText('after', `\nExample:\n  modelgate ratelimit ${name} --key key_3f9c2a7d11b04e52${reset ? '' : ' --json'}`)
      .action(async (o: OutputOptions & { key: string }) =>
        withContext(o, async (ctx) => {
          const limiter = await open(ctx);
          try {
            const key = await keyByReference(ctx, o.key);
            if (reset) {
              await rateOf(ctx, key);
              await limiter.reset(key);
            }
            const s = await show(ctx, limiter, key);
            emit(o, s, () => (reset ? `reset ${key}. ` : '') + describe(s));
          } finally {
            await limiter.close();
          }
        }),
      );
  }
}
