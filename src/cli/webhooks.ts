import type { Command } from 'commander';
import { EVENT_TYPES } from '../webhooks/index.js';
import { cliActor, withContext } from './context.js';
import { emit, table, type OutputOptions } from './output.js';
import { parseDuration } from '../lib/duration.js';
import type { Context } from '../server/context.js';

/** A subscription named by its id, or by its receiver URL (one subscription per URL), as people have the URL at hand. */
async function subscriptionByReference(ctx: Context, ref: string): Promise<string> {
  const subs = await ctx.webhooks.list();
  return (subs.find((x) => x.id === ref) ?? subs.find((x) => x.url === ref))?.id ?? ref;
}

export function registerWebhookCommands(program: Command): void {
  const webhooks = program.command('webhooks').description('Signed webhook subscriptions (Standard Webhooks), deliveries and the dead-letter queue');

  webhooks
    .command('add')
    .description('Subscribe a receiver URL to events; prints its signing secret once')
    .requiredOption('--url <url>', 'http(s) URL that receives POSTs')
    .option('--events <list>', `comma-separated: ${EVENT_TYPES.join(', ')} (default: all)`)
    .option('--secret <whsec>', 'signing secret (whsec_…); default: a new random one')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate webhooks add --url https://hooks.example.com/modelgate\n  modelgate webhooks add --url https://ops.example.com/ml --events rollout.rolled_back,monitor.alert.fired --json',
    )
    .action(async (o: OutputOptions & { url: string; events?: string; secret?: string }) =>
      withContext(o, async (ctx) => {
        const sub = await ctx.webhooks.add({
          url: o.url,
          events: o.events
            ?.split(',')
            .map((e) => e.trim())
            .filter(Boolean),
          secret: o.secret,
          actor: cliActor(),
        });
        emit(o, sub, () =>
          'already' in sub
            ? `already subscribed ${sub.id}: ${sub.url} (${sub.events.join(', ')}); its secret was shown when it was added (modelgate webhooks rotate-secret ${sub.id} makes a new one)`
            : [`subscribed ${sub.id}: ${sub.url} (${sub.events.join(', ')})`, `secret ${sub.secret}`, 'keep the secret: it is shown only now; receivers verify webhook-signature with it'].join('\n'),
        );
      }),
    );

  webhooks
    .command('list')
    .description('Subscriptions (never their secrets) and the dead-letter count')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate webhooks list --json')
    .action(async (o: OutputOptions) =>
      withContext(o, async (ctx) => {
        const subs = await ctx.webhooks.list();
        const dead = await ctx.webhooks.dlqSize();
        const now = new Date().toISOString();
        // Shown only while some rotation's grace lasts: until when the old secret still signs.
        const rotating = subs.some((s) => (s.previous_secret_valid_until ?? '') > now);
        emit(
          o,
          { subscriptions: subs, dead_letters: dead },
          () =>
            `${
              subs.length
                ? table(
                    subs.map((s) => ({
                      ...s,
                      events: s.events.join(','),
                      enabled: s.enabled ? 'yes' : `no (${s.disabled_reason})`,
                      old_secret_until: (s.previous_secret_valid_until ?? '') > now ? s.previous_secret_valid_until : '',
                    })),
                    ['id', 'url', 'events', 'enabled', 'created_at', ...(rotating ? ['old_secret_until'] : [])],
                  )
                : 'no subscriptions'
            }\ndead letters: ${dead}`,
        );
      }),
    );

  webhooks
    .command('rotate-secret <subscription>')
    .description('Give a subscription a new signing secret, printed once; the old one signs deliveries too for the grace period, so the receiver can switch to the new one at any moment within it')
    .option('--grace <duration>', "how long deliveries carry the old secret's signature too, e.g. 24h; 0s ends it at once", '24h')
    .option('--secret <whsec>', 'the new secret (whsec_…); default: a new random one')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  modelgate webhooks rotate-secret wh_3kT9xQ2mPzLw\n  modelgate webhooks rotate-secret wh_3kT9xQ2mPzLw --grace 7d --json')
    .action(async (id: string, o: OutputOptions & { grace: string; secret?: string }) =>
      withContext(o, async (ctx) => {
        const sub = await ctx.webhooks.rotateSecret({ id: await subscriptionByReference(ctx, id), secret: o.secret, graceMs: parseDuration(o.grace, '--grace'), actor: cliActor() });
        emit(o, sub, () =>
          [
            `new secret for ${sub.id} (${sub.url}): ${sub.secret}`,
            sub.previous_secret_valid_until
              ? `deliveries carry the old secret's signature too until ${sub.previous_secret_valid_until}: give the receiver the new secret before then`
              : 'the old secret no longer signs anything: the receiver must check the new one now',
            'keep the secret: it is shown only now',
          ].join('\n'),
        );
      }),
    );

  webhooks
    .command('remove <subscription>')
    .description('Remove a subscription; its pending deliveries are cancelled')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  modelgate webhooks remove wh_3kT9xQ2mPzLw\n  modelgate webhooks remove https://ops.example.com/modelgate --json')
    .action(async (id: string, o: OutputOptions) =>
      withContext(o, async (ctx) => {
        const sub = await subscriptionByReference(ctx, id);
        const r = await ctx.webhooks.remove(sub);
        emit(o, r, () => `removed ${sub}${sub === id ? '' : ` (${id})`}`);
      }),
    );

  webhooks
    .command('retry-dlq')
    .description('Queue dead-lettered deliveries again (after the receiver is fixed): all, one URL, or one event/delivery id')
    .option('--url <url>', 'only deliveries to this receiver URL')
    .option('--id <id>', 'only this event id (msg_…) or delivery id')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  modelgate webhooks retry-dlq\n  modelgate webhooks retry-dlq --url https://hooks.example.com/modelgate --json')
    .action(async (o: OutputOptions & { url?: string; id?: string }) =>
      withContext(o, async (ctx) => {
        const r = await ctx.webhooks.retryDlq({ url: o.url, id: o.id });
        emit(o, r, () => `${r.requeued} dead-lettered deliveries queued again; the delivery worker of a running server sends them`);
      }),
    );

  webhooks
    .command('deliveries')
    .description('Recent deliveries, newest first')
    .option('--status <status>', 'pending, delivered, dead or cancelled')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate webhooks deliveries --status dead')
    .action(async (o: OutputOptions & { status?: string; limit: string }) =>
      withContext(o, async (ctx) => {
        const rows = await ctx.webhooks.deliveries({ status: o.status, limit: Math.max(1, Math.min(1000, Number(o.limit) || 50)) });
        emit(o, { deliveries: rows }, () => (rows.length ? table(rows, ['id', 'type', 'subscription_id', 'status', 'attempts', 'last_status', 'last_error', 'updated_at']) : 'no deliveries'));
      }),
    );
}
