import type { Command } from 'commander';
import { EVENT_TYPES } from '../webhooks/index.js';
import { cliActor, withContext } from './context.js';
import { emit, table, type OutputOptions } from './output.js';
import { AppError } from '../lib/errors.js';
import { parseDuration } from '../lib/duration.js';
import type { Context } from '../server/context.js';

const DELIVERY_STATUSES = ['pending', 'delivered', 'dead', 'cancelled'] as const;

/** The last answer of a delivery, as one cell: the error, or the status code of a success. */
const lastAnswer = (d: { last_error: string | null; last_status: number | null }) => d.last_error ?? (d.last_status === null ? null : String(d.last_status));

/** A receiver's answer in one table cell: whitespace runs as one space, cut at 100 characters. */
function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 100 ? `${flat.slice(0, 99)}…` : flat;
}

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
            : [
                `subscribed ${sub.id}: ${sub.url} (${sub.events.join(', ')})`,
                `secret ${sub.secret}`,
                'keep the secret: it is shown only now; receivers verify webhook-signature with it',
                `once the receiver has it: modelgate webhooks test ${sub.id}`,
              ].join('\n'),
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
        const subs = await ctx.webhooks.listWithRefusals();
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
                      enabled: s.enabled ? ('refused' in s ? `yes, but refused (${s.refused})` : 'yes') : `no (${s.disabled_reason})`,
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
    .command('test <subscription>')
    .description(
      'Send a webhook.test event to a receiver now, signed as its deliveries are, and say how it answered: checks its URL, secret and network before a real event needs them; exit 1 when it was not delivered',
    )
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  modelgate webhooks test https://ops.example.com/modelgate\n  modelgate webhooks test wh_3kT9xQ2mPzLw --json')
    .action(async (ref: string, o: OutputOptions) =>
      withContext(o, async (ctx) => {
        const r = await ctx.webhooks.test(await subscriptionByReference(ctx, ref));
        emit(o, r, () => {
          const how = r.status_code === null ? `${r.error} (after ${Math.round(r.duration_ms)} ms)` : `HTTP ${r.status_code} in ${Math.round(r.duration_ms)} ms`;
          // A refused destination says what to do itself (url: … WEBHOOK_ALLOW_PRIVATE).
          const refusedHere = r.error?.startsWith('url: ') ?? false;
          const signed = r.signed_with.length > 1 ? 'signed with the current secret and, during its rotation grace, the previous one' : 'signed with the current secret';
          return [
            r.delivered ? `delivered to ${r.url}: ${how}, ${signed} (webhook-id ${r.event_id})` : `not delivered to ${r.url}: ${how} (webhook-id ${r.event_id})`,
            ...(r.response !== null ? [`the receiver answered: ${oneLine(r.response)}`] : []),
            ...(r.status_code === 401 || r.status_code === 403
              ? [`a ${r.status_code} usually means the receiver checks another secret: give it this subscription's (modelgate webhooks rotate-secret ${r.subscription} makes a new one, shown once)`]
              : r.status_code === null && !refusedHere
                ? ['no answer: check the URL, that the receiver is running, and the network between']
                : []),
            ...(r.enabled ? [] : [`note: the subscription is disabled (a 410 Gone): real events are not sent to it; modelgate webhooks enable ${r.subscription} sends them again`]),
          ].join('\n');
        });
        if (!r.delivered) process.exitCode = 1;
      }),
    );

  webhooks
    .command('enable <subscription>')
    .description('Send to a subscription again after its receiver answered 410 Gone: events from now on (those while it was disabled are not sent); its secret stays')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  modelgate webhooks enable https://ops.example.com/modelgate\n  modelgate webhooks enable wh_3kT9xQ2mPzLw --json')
    .action(async (ref: string, o: OutputOptions) =>
      withContext(o, async (ctx) => {
        const sub = await ctx.webhooks.enable(await subscriptionByReference(ctx, ref));
        emit(o, sub, () =>
          'already' in sub
            ? `${sub.id} (${sub.url}) is enabled already: nothing changed`
            : [
                `enabled ${sub.id} (${sub.url}): events from now on are delivered to it; those while it was disabled (${sub.was_disabled_because ?? 'by hand'}) are not`,
                `check it takes them: modelgate webhooks test ${sub.id}`,
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
        emit(o, r, () => `${r.requeued} dead-lettered ${r.requeued === 1 ? 'delivery' : 'deliveries'} queued again; the delivery worker of a running server sends them`);
      }),
    );

  webhooks
    .command('redeliver <delivery>')
    .description(
      'Send one delivery again, whatever became of it (delivered, dead, or cancelled by a 410 Gone since enabled again): the same event, webhook-id and body, signed anew, for a receiver that lost what it acknowledged',
    )
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  modelgate webhooks redeliver 0b6c3f0e-1f7a-4c53-9a51-2f0d3c1e9b7a\n  modelgate webhooks deliveries --event msg_2mXq… --json   (find the delivery to one receiver)\n\nA receiver that deduplicates by webhook-id takes it as seen already: that is what makes a redelivery safe for one that did not lose it.',
    )
    .action(async (id: string, o: OutputOptions) =>
      withContext(o, async (ctx) => {
        const d = await ctx.webhooks.redeliver(id);
        emit(o, d, () =>
          [
            `queued delivery ${d.id} again (it was ${d.was} after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}): event ${d.event_id} (${d.type}) to ${d.url}, with the same webhook-id`,
            `the delivery worker of a running server sends it; modelgate webhooks delivery ${d.id} shows how the receiver answers`,
          ].join('\n'),
        );
      }),
    );

  webhooks
    .command('deliveries')
    .description('Recent deliveries, newest first: to which receiver, how many attempts, the last answer')
    .option('--status <status>', DELIVERY_STATUSES.join(', '))
    .option('--subscription <sub>', "only one subscription's deliveries: its id or its receiver URL")
    .option('--event <id>', "only one event's deliveries (msg_…, the webhook-id header)")
    .option('--limit <n>', 'how many (1 to 1000)', '50')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  modelgate webhooks deliveries --status dead\n  modelgate webhooks deliveries --subscription https://ops.example.com/modelgate --json')
    .action(async (o: OutputOptions & { status?: string; subscription?: string; event?: string; limit: string }) =>
      withContext(o, async (ctx) => {
        if (o.status !== undefined && !(DELIVERY_STATUSES as readonly string[]).includes(o.status))
          throw new AppError('VALIDATION_FAILED', `--status ${o.status} is not a delivery status: use ${DELIVERY_STATUSES.join(', ')}`, { field: 'status' });
        const limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new AppError('VALIDATION_FAILED', `--limit ${o.limit}: give a whole number from 1 to 1000`, { field: 'limit' });
        const subscription = o.subscription === undefined ? undefined : await subscriptionByReference(ctx, o.subscription);
        const rows = await ctx.webhooks.deliveries({ status: o.status, subscription, event: o.event, limit });
        emit(o, { deliveries: rows }, () =>
          rows.length
            ? table(
                rows.map((r) => ({ ...r, last: lastAnswer(r) })),
                ['id', 'type', 'url', 'status', 'attempts', 'last', 'updated_at'],
              )
            : 'no deliveries',
        );
      }),
    );

  webhooks
    .command('delivery <id>')
    .description("One delivery and every attempt at it: when, the receiver's status code or error, how long it took, the start of what it answered")
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExample:\n  modelgate webhooks delivery 0b6c3f0e-1f7a-4c53-9a51-2f0d3c1e9b7a\n  (ids from modelgate webhooks deliveries)')
    .action(async (id: string, o: OutputOptions) =>
      withContext(o, async (ctx) => {
        const d = await ctx.webhooks.delivery(id);
        emit(o, d, () => {
          const requeued = d.requeued ? ` (queued again by hand ${d.requeued === 1 ? 'once' : `${d.requeued} times`})` : '';
          const next = d.next_attempt_at ? `; next attempt at ${d.next_attempt_at}` : '';
          const head = [
            `delivery ${d.id}: event ${d.event_id} (${d.type}, ${d.event_at}) to ${d.url ?? `removed subscription ${d.subscription_id}`}`,
            `${d.status} after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}${requeued}${next}`,
          ];
          if (!d.history.length) return head.join('\n');
          const rows = d.history.map((a) => ({ ...a, status: a.status_code ?? '-', ms: Math.round(a.duration_ms), response: a.response === null ? null : oneLine(a.response) }));
          return [...head, '', table(rows, ['attempt', 'at', 'status', 'error', 'ms', 'response'])].join('\n');
        });
      }),
    );
}
