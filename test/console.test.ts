import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHotelBookings, rowPayload } from '../src/training/index.js';
import { demoModel, fixture, THREE_BANDS } from './helpers/fixtures.js';
import { buildReference } from '../src/monitoring/index.js';
import { csvOf, registerTrained } from './helpers/retrain.js';
import { startTestServer, TOKEN, type TestServer } from './helpers/server.js';
import { dropDb, freshDb, tempDir } from './helpers/db.js';

// The console in a real browser (Debian's Chromium driven by playwright-core) against a real
// server with a real model. Screenshots of each page go to test-artifacts/console/.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.resolve('test-artifacts/console');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const demo = demoModel();
/** Waits for the page generously: a loaded CI machine may take seconds where an idle one takes milliseconds. */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 30_000, interval: 100 });

describe('console at /ui in Chromium', () => {
  let s: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let readToken: string;
  const browserErrors: string[] = [];

  const api = async (method: string, url: string, body?: unknown, token = TOKEN) => {
    const res = await fetch(`${s.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const shot = async (name: string) => {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  /** axe-core's serious and critical violations on the page as it is now. */
  const a11y = async (p: Page) => {
    await p.evaluate(axeSource);
    const result = await p.evaluate(async () => {
      const r = await (globalThis as unknown as { axe: { run(o: unknown): Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe.run({
        resultTypes: ['violations'],
      });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) }));
    });
    return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  };
  /** Rows of a table whose cells are not laid out as one row of table cells (a cell styled as a flex box breaks out of its row). */
  const misalignedRows = (p: Page, table: string) =>
    p.locator(`${table} tbody tr`).evaluateAll((rows) =>
      rows.flatMap((row, i) => {
        const cells = [...row.children].map((c) => ({ display: c.ownerDocument.defaultView!.getComputedStyle(c).display, box: c.getBoundingClientRect() }));
        const top = cells[0].box.top;
        const height = cells[0].box.height;
        return cells.every((c) => c.display === 'table-cell' && Math.abs(c.box.top - top) < 1 && Math.abs(c.box.height - height) < 1)
          ? []
          : [{ row: i, cells: cells.map((c) => `${c.display} ${Math.round(c.box.top)}+${Math.round(c.box.height)}`) }];
      }),
    );
  const signIn = async (token: string) => {
    await page.goto(`${s.url}/ui/`);
    await page.getByLabel('API key or admin token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  };

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    s = await startTestServer({ listen: true, env: { STATS_FLUSH_INTERVAL_MS: '200', ANALYSIS_INTERVAL_MS: '3600000', MONITOR_MIN_ROWS: '50' } });
    const manifest = { reference: demo.reference, metrics: demo.metrics, training: demo.run };
    const policy = { type: 'threshold' as const, threshold: demo.threshold, above: 'act', below: 'none' };
    for (let v = 1; v <= 2; v++) await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, manifest, policy, actor: 't' });
    await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
    const key = await api('POST', '/v1/keys', { name: 'viewer', scopes: ['read'] });
    expect(key.status).toBe(201);
    readToken = key.body.token as string;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on('console', (m) => m.type() === 'error' && browserErrors.push(m.text()));
    page.on('pageerror', (e) => browserErrors.push(e.message));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  it('serves the console with a strict Content-Security-Policy and no inline script', async () => {
    const res = await fetch(`${s.url}/ui/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const html = await res.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
    expect((await fetch(`${s.url}/ui`, { redirect: 'manual' })).headers.get('location')).toBe('/ui/');
  });

  it('a wrong token gets a clear message and sees nothing', async () => {
    await signIn('mg_not-a-real-token');
    await poll(() => page.getByRole('alert').textContent()).toMatch(/not valid here/);
    expect(await page.locator('[data-testid=models-table]').count()).toBe(0);
    await shot('signin-error');
    // An expired key: used only once the server refuses it, so a slow machine cannot make it pass.
    const short = await api('POST', '/v1/keys', { name: 'brief', scopes: ['read'], expires: '1s' });
    expect(short.status).toBe(201);
    await poll(async () => (await api('GET', '/v1/models', undefined, short.body.token as string)).status).toBe(401);
    await signIn(short.body.token as string);
    await poll(() => page.getByRole('alert').textContent()).toMatch(/not valid here.*revoked or expired keys stop working/);
    expect(await page.locator('[data-testid=models-table]').count()).toBe(0);
  });

  it('the admin sees the models with production, engine and canary state', async () => {
    await signIn(TOKEN);
    const row = page.locator('[data-testid=models-table] tbody tr', { hasText: 'hotel' });
    await poll(() => row.textContent()).toContain('v1');
    expect(await row.textContent()).toMatch(/binary/);
    await shot('models');
    expect(await a11y(page)).toEqual([]);
  });

  it('a canary started through the API shows live arm statistics that change with traffic', async () => {
    const started = await api('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 50 });
    expect(started.status).toBe(200);
    await page.goto(`${s.url}/ui/#/rollout/hotel`);
    await poll(() => page.locator('h2#canary-h').textContent()).toMatch(/Canary v2 at 50%/);
    const canaryRequests = page.locator('[data-testid=canary-requests]');
    const before = Number(await canaryRequests.textContent());
    for (let i = 0; i < 60; i++) expect((await api('POST', '/v1/infer', { model: 'hotel', payload: rowPayload(demo.holdout.data, i) })).status).toBe(200);
    // The page refreshes on its own every 3 s; the arm counts come from the flushed statistics.
    await poll(async () => Number(await canaryRequests.textContent())).toBeGreaterThan(before);
    await shot('rollout-live');
    expect(await a11y(page)).toEqual([]);
  });

  it('stopping the canary from the page records a rollback naming the admin', async () => {
    await page.getByTestId('stop-canary').click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/All traffic goes back to production version 1/);
    await page.locator('dialog[open] [data-testid=confirm]').click();
    await poll(() => page.locator('[data-testid=rollbacks-table] tbody').textContent()).toMatch(/admin-token.*stopped by admin-token/);
    const status = await api('GET', '/v1/canary/hotel');
    expect(status.body.canary_version).toBeNull();
    // The history says what ran and how it ended, newest first, with who did it.
    await poll(() => page.locator('[data-testid=history-table] tbody tr').allTextContents()).toEqual([
      expect.stringMatching(/canary v2 stopped by admin-token: stopped from the console\s*admin-token$/),
      expect.stringMatching(/canary v2 started at 50% against v1\s*admin-token$/),
    ]);
    // And the page says how the canary ended where it says none runs.
    await poll(() => page.getByTestId('last-canary').textContent()).toMatch(/^ The last one: canary v2 stopped by admin-token: stopped from the console \((?!admin-token).+\)\.$/);
    await shot('rollout-stopped');
  });

  it('a canary set by hand between its steps says where it is and which step comes next', async () => {
    expect((await api('POST', '/v1/canary', { model: 'hotel', canary_version: 2, steps: [10, 50, 100], step_interval: '10m' })).status).toBe(200);
    await page.goto(`${s.url}/ui/#/rollout/hotel`);
    const steps = page.getByText(/^Steps /);
    await poll(() => steps.textContent()).toMatch(/^Steps \[10%\] → 50% → 100%; step 1 of 3, every 10m\./);
    expect((await api('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 30 })).status).toBe(200);
    await poll(() => steps.textContent()).toMatch(/^Steps 10% → 50% → 100%; set by hand to 30% after step 1 of 3, every 10m\./);
    // The rules in force, and as a start request for the running canary changes them.
    const rules = page.getByTestId('rules');
    await poll(() => rules.textContent()).toBe("Rules: rolls back on error rate > 1.5 × production's (at least 1.5 %), p95 > 1.3 × production's (at least 1.3 ms).");
    expect((await api('POST', '/v1/canary', { model: 'hotel', canary_version: 2, analysis: { max_error_ratio: 1.2, outcomes: { max_auc_drop: 0.05 } } })).status).toBe(200);
    await poll(() => rules.textContent()).toBe(
      "Rules: rolls back on error rate > 1.2 × production's (at least 1.2 %), p95 > 1.3 × production's (at least 1.3 ms); on feedback (100 labels per arm): ROC AUC more than 0.05 below production's.",
    );
    await poll(() => steps.textContent()).toMatch(/^Steps 10% → 50% → 100%; set by hand to 30% after step 1 of 3, every 10m\./);
    expect((await api('POST', '/v1/canary/hotel/stop', {})).status).toBe(200);
  });

  it('an admin starts a canary with steps from the model page, and sets its percent by hand on the Rollout page', async () => {
    await page.goto(`${s.url}/ui/#/models/hotel`);
    await poll(() => page.locator('[data-testid=versions-table] tbody tr').count()).toBe(2);
    expect(await page.getByTestId('canary-1').count()).toBe(0); // production itself
    await page.getByTestId('canary-2').click();
    const dialog = page.locator('dialog[open]');
    await poll(() => dialog.textContent()).toMatch(/Version 2 answers a share of requests beside production \(version 1\)/);
    expect(await dialog.getByTestId('canary-steps').inputValue()).toBe('10, 25, 50, 100');
    // A typo is named before anything is sent; a wrong order is the server's message.
    await dialog.getByTestId('canary-steps').fill('5, ten');
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toBe('Steps: "ten" is not a percent; give numbers such as 10, 25, 50, 100.');
    await dialog.getByTestId('canary-steps').fill('50, 20');
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toMatch(/steps: each step must be larger than the one before, got \[50, 20\]/);
    // That refusal is the one 400 the browser logs in this file.
    expect(browserErrors.filter((e) => /status of 400/.test(e))).toHaveLength(1);
    browserErrors.splice(
      browserErrors.findIndex((e) => /status of 400/.test(e)),
      1,
    );
    expect((await api('GET', '/v1/canary/hotel')).body.canary_version).toBeNull();
    await dialog.getByTestId('canary-steps').fill('5, 20 100%');
    await dialog.getByTestId('canary-interval').fill('30m');
    await dialog.getByTestId('canary-auto').check();
    await shot('model-canary-dialog');
    const started = page.waitForRequest((r) => r.url().endsWith('/v1/canary') && r.method() === 'POST');
    await dialog.getByTestId('confirm').click();
    expect((await started).postDataJSON()).toEqual({ model: 'hotel', canary_version: 2, production_version: 1, steps: [5, 20, 100], auto_promote: true, step_interval: '30m' });
    await poll(() => page.locator('[role=status]').textContent()).toBe('A canary of version 2 of hotel started at 5% against version 1; watch it on the Rollout page.');
    expect((await api('GET', '/v1/canary/hotel')).body).toMatchObject({
      canary_version: 2,
      canary_percent: 5,
      steps: [5, 20, 100],
      step_interval: '30m',
      auto_promote: true,
      started_by: 'admin-token',
    });

    await page.goto(`${s.url}/ui/#/rollout/hotel`);
    await poll(() => page.locator('h2#canary-h').textContent()).toMatch(/Canary v2 at 5%/);
    await page.getByTestId('set-percent').click();
    expect(await dialog.getByTestId('percent-input').inputValue()).toBe('5');
    await dialog.getByTestId('percent-input').fill('40');
    await dialog.getByTestId('confirm').click();
    await poll(() => page.locator('[role=status]').textContent()).toBe('Canary version 2 of hotel now answers 40% of requests.');
    await poll(() => page.locator('h2#canary-h').textContent()).toMatch(/Canary v2 at 40%/);
    expect((await api('GET', '/v1/canary/hotel')).body).toMatchObject({ canary_version: 2, canary_percent: 40, step: 2, auto_promote: true });
    await poll(() => page.locator('[data-testid=history-table] tbody tr').first().textContent()).toMatch(/canary v2 set from 5% to 40%\s*admin-token$/);
    // The same again changes nothing, and says so.
    await page.getByTestId('set-percent').click();
    expect(await dialog.getByTestId('percent-input').inputValue()).toBe('40');
    await dialog.getByTestId('confirm').click();
    await poll(() => page.locator('[role=status]').textContent()).toBe('Canary version 2 of hotel is at 40% already: nothing changed.');
    await shot('rollout-set-percent');
    expect(await a11y(page)).toEqual([]);
    expect((await api('POST', '/v1/canary/hotel/stop', {})).status).toBe(200);
  });

  it('a canary judged on outcomes shows the labelled predictions and metrics of each arm, and what its rules wait for', async () => {
    expect((await api('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 50, analysis: { outcomes: { max_auc_drop: 0.5, min_labels_per_arm: 20 } } })).status).toBe(200);
    await page.goto(`${s.url}/ui/#/rollout/hotel`);
    const section = page.locator('section[aria-labelledby=outcomes-h]');
    await poll(() => section.textContent()).toMatch(/outcome rules wait for feedback: production has 0 labelled predictions of the 20 needed; canary has 0/);
    // The message the earlier stop left ("… is stopped") is not shown over the canary running now.
    expect(await page.locator('p.done').count()).toBe(0);
    const data = demo.holdout.data;
    const items = [];
    for (let i = 0; i < 80; i++) {
      const r = await api('POST', '/v1/infer', { model: 'hotel', routing_key: `guest-${i}`, payload: rowPayload(data, i) });
      items.push({ prediction_id: r.body.prediction_id, label: data.label[i] });
    }
    expect((await api('POST', '/v1/feedback', { items })).body.stored).toBe(80);
    type Metrics = { accuracy: number; false_positive_rate: number; roc_auc: number };
    type Outcomes = Record<'production' | 'canary', Metrics & { labelled: number; standard_errors: Metrics }>;
    const o = (await api('GET', '/v1/canary/hotel')).body.outcomes as Outcomes;
    expect(o.production.labelled + o.canary.labelled).toBe(80);
    for (const arm of ['production', 'canary'] as const) {
      // Agresti–Caffo: one success and one failure added to the labelled predictions.
      const n = o[arm].labelled;
      const p = (Math.round(o[arm].accuracy * n) + 1) / (n + 2);
      expect(o[arm].standard_errors.accuracy).toBeCloseTo(Math.sqrt((p * (1 - p)) / (n + 2)), 12);
    }
    const pts = (se: number) => ` (SE ${(se * 100).toFixed(1)} pts)`;
    const shown = (arm: 'production' | 'canary') => [
      arm === 'production' ? 'v1' : 'v2',
      String(o[arm].labelled),
      `${(o[arm].accuracy * 100).toFixed(1)}%${pts(o[arm].standard_errors.accuracy)}`,
      `${(o[arm].false_positive_rate * 100).toFixed(1)}%${pts(o[arm].standard_errors.false_positive_rate)}`,
      `${o[arm].roc_auc.toFixed(4)} (SE ${o[arm].standard_errors.roc_auc.toFixed(4)})`,
    ];
    for (const arm of ['production', 'canary'] as const) await poll(() => section.locator(`tbody tr[data-arm=${arm}] td`).allTextContents()).toEqual(shown(arm));
    expect(await section.locator('thead th').allTextContents()).toEqual(['Arm', 'Version', 'Labelled', 'Accuracy', 'False-positive rate', 'ROC AUC']);
    await shot('rollout-outcomes');
    expect(await a11y(page)).toEqual([]);
    expect((await api('POST', '/v1/canary/hotel/stop', {})).status).toBe(200);
  });

  it('promoting the canary from the page promotes the canary the page showed', async () => {
    expect((await api('POST', '/v1/canary', { model: 'hotel', canary_version: 2, canary_percent: 20 })).status).toBe(200);
    await page.goto(`${s.url}/ui/#/rollout/hotel`);
    await poll(() => page.getByTestId('promote-canary').count()).toBe(1);
    await page.getByTestId('promote-canary').click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/production of hotel moves from version 1 to version 2/);
    const sent = page.waitForRequest((r) => r.url().endsWith('/v1/canary/hotel/promote'));
    await page.locator('dialog[open] [data-testid=confirm]').click();
    // With the version it showed: a canary replaced meanwhile is not promoted unseen (409).
    expect((await sent).postDataJSON()).toEqual({ canary_version: 2 });
    await poll(() => page.locator('[role=status]').textContent()).toMatch(/Version 2 of hotel is now production/);
    expect(((await api('GET', '/v1/models/hotel')).body.aliases as Record<string, number>).production).toBe(2);
    // Back to 1 for the tests after this one, as a rollback (so version 1's first promotion stays the one that placed it).
    expect((await api('POST', '/v1/models/hotel/rollback', {})).status).toBe(200);
  });

  it('a shadow judged on outcomes shows both versions on the same labelled requests', async () => {
    // A model of its own: its traffic must not dilute the drift the monitoring test sends hotel.
    const manifest = { reference: demo.reference, metrics: demo.metrics, training: demo.run };
    await s.ctx.registry.register({ model: 'stay', onnx: demo.onnx, manifest, policy: { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' }, actor: 't' });
    await s.ctx.registry.register({ model: 'stay', onnx: demo.onnx, manifest, policy: { type: 'threshold', threshold: 0.2, above: 'act', below: 'none' }, actor: 't' });
    await s.ctx.registry.promote({ model: 'stay', target: 'production', version: 1, actor: 't' });
    expect((await api('POST', '/v1/shadow', { model: 'stay', version: 2 })).status).toBe(200);
    await s.pool.refresh(true);
    const data = demo.holdout.data;
    const items = [];
    for (let i = 0; i < 30; i++) {
      expect((await api('POST', '/v1/infer', { model: 'stay', event_id: `stay-${i}`, payload: rowPayload(data, i) })).status).toBe(200);
      items.push({ event_id: `stay-${i}`, label: data.label[i] });
    }
    await s.runtime.shadowIdle();
    await s.audit.flush();
    expect((await api('POST', '/v1/feedback', { items })).body.stored).toBe(30);
    const o = ((await api('GET', '/v1/canary/stay')).body.shadow as { outcomes: Record<'production' | 'shadow', { labelled: number; accuracy: number }> }).outcomes;
    await page.goto(`${s.url}/ui/#/rollout/stay`);
    await page.reload();
    const section = page.locator('section[aria-labelledby=shadow-outcomes-h]');
    for (const arm of ['production', 'shadow'] as const) {
      expect(o[arm].labelled).toBe(30);
      const cells = [arm === 'production' ? 'v1' : 'v2', '30', expect.stringMatching(new RegExp(`^${(o[arm].accuracy * 100).toFixed(1)}%`))];
      await poll(() => section.locator(`tbody tr[data-arm=${arm}] td`).allTextContents()).toEqual(expect.arrayContaining(cells));
    }
    expect(await a11y(page)).toEqual([]);
    expect((await api('POST', '/v1/shadow/stay/stop', {})).status).toBe(200);
  });

  it('stopping a shadow from the Rollout page', async () => {
    expect((await api('POST', '/v1/shadow', { model: 'hotel', version: 2 })).status).toBe(200);
    await page.goto(`${s.url}/ui/#/rollout/hotel`);
    await page.reload();
    await poll(() => page.getByTestId('stop-shadow').count()).toBe(1);
    await page.getByTestId('stop-shadow').click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/Version 2 stops scoring copies of hotel's requests/);
    const sent = page.waitForRequest((r) => r.url().endsWith('/v1/shadow/hotel/stop'));
    await page.locator('dialog[open] [data-testid=confirm]').click();
    await sent;
    await poll(() => page.locator('[role=status]').textContent()).toMatch(/The shadow of hotel is stopped/);
    expect((await api('GET', '/v1/canary/hotel')).body.shadow).toBeNull();
    await poll(() => page.getByTestId('stop-shadow').count()).toBe(0);
    expect(await a11y(page)).toEqual([]);
  });

  it('an admin promotes a version from the model page after a confirmation naming the change', async () => {
    await page.goto(`${s.url}/ui/#/models/hotel`);
    await poll(() => page.getByTestId('promote-2').count()).toBe(1);
    expect(await misalignedRows(page, '[data-testid=versions-table]')).toEqual([]);
    await page.getByTestId('promote-2').click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/moves from version 1 to version 2/);
    const sent = page.waitForRequest((r) => r.url().endsWith('/v1/models/hotel/promote'));
    await page.locator('dialog[open] [data-testid=confirm]').click();
    // With the version the page showed: a promotion made meanwhile by someone else is not undone (409).
    expect((await sent).postDataJSON()).toEqual({ version: 2, target: 'production', from_version: 1 });
    await poll(() => page.locator('[role=status]').textContent()).toMatch(/Version 2 of hotel is now production/);
    const model = await api('GET', '/v1/models/hotel');
    expect((model.body.aliases as Record<string, number>).production).toBe(2);
    await shot('model');
    expect(await a11y(page)).toEqual([]);
  });

  it('rolling back names the version production goes back to; with none to go back to, the page says so instead of offering it', async () => {
    await page.goto(`${s.url}/ui/#/models/hotel`);
    await poll(() => page.getByTestId('rollback').count()).toBe(1);
    await page.getByTestId('rollback').click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/goes back from version 2 to version 1\./);
    const sent = page.waitForRequest((r) => r.url().endsWith('/v1/models/hotel/rollback'));
    await page.locator('dialog[open] [data-testid=confirm]').click();
    expect((await sent).postDataJSON()).toEqual({ version: 2 });
    await poll(() => page.locator('[role=status]').textContent()).toMatch(/Production of hotel rolled back/);
    expect(((await api('GET', '/v1/models/hotel')).body.aliases as Record<string, number>).production).toBe(1);
    // Version 1 was the first production: nothing before it.
    await poll(() => page.getByTestId('no-rollback').textContent()).toMatch(/no earlier version to roll back to/);
    expect(await page.getByTestId('rollback').count()).toBe(0);
    // Back to 2, as the tests after this one expect.
    expect((await api('POST', '/v1/models/hotel/promote', { version: 2, target: 'production' })).status).toBe(200);
  });

  it('a rollback target that is archived is named as such, and restoring it from the page offers the rollback again', async () => {
    // Production is 2 and would go back to 1; archived, 1 cannot be rolled back to.
    expect((await api('POST', '/v1/models/hotel/promote', { version: 1, target: 'archived' })).status).toBe(200);
    await page.goto(`${s.url}/ui/#/models/hotel`);
    await page.reload(); // the same address as the test before: read the model again
    await poll(() => page.getByTestId('no-rollback').textContent()).toMatch(/would go back to version 1, which is archived: restore it first/);
    expect(await page.getByTestId('rollback').count()).toBe(0);
    await page.getByTestId('restore-1').click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/Version 1 of hotel becomes active again/);
    const sent = page.waitForRequest((r) => r.url().endsWith('/v1/models/hotel/promote'));
    await page.locator('dialog[open] [data-testid=confirm]').click();
    expect((await sent).postDataJSON()).toEqual({ version: 1, target: 'active' });
    await poll(() => page.locator('[role=status]').textContent()).toMatch(/Version 1 of hotel is active again/);
    await poll(() => page.getByTestId('rollback').count()).toBe(1);
    expect(await page.getByTestId('restore-1').count()).toBe(0);
    expect(((await api('GET', '/v1/models/hotel/versions/1')).body as { status: string }).status).toBe('active');
    // Active and not production: it can shadow production, from the same row.
    expect(await page.getByTestId('shadow-2').count()).toBe(0);
    await page.getByTestId('shadow-1').click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/Version 1 scores a copy of every request production \(version 2\) answers/);
    const shadowed = page.waitForRequest((r) => r.url().endsWith('/v1/shadow'));
    await page.locator('dialog[open] [data-testid=confirm]').click();
    expect((await shadowed).postDataJSON()).toEqual({ model: 'hotel', version: 1 });
    await poll(() => page.locator('[role=status]').textContent()).toMatch(/Version 1 of hotel shadows production/);
    expect((await api('GET', '/v1/canary/hotel')).body.shadow).toMatchObject({ version: 1, percent: 100, production_version: 2 });
    expect((await api('POST', '/v1/shadow/hotel/stop', {})).status).toBe(200);
  });

  it('blue/green from the model page: a version put in a slot, the slot activated and rolled back, a slot moved meanwhile refused', async () => {
    // Production is 2, version 1 is active, and there are no slots yet.
    await page.goto(`${s.url}/ui/#/models/hotel`);
    await page.reload();
    await poll(() => page.getByTestId('to-slot-1').count()).toBe(1);
    expect(await page.locator('#slots-h').count()).toBe(0);
    const dialog = page.locator('dialog[open]');
    await page.getByTestId('to-slot-1').click();
    expect(await dialog.getByTestId('slot-name').inputValue()).toBe('green');
    expect(await dialog.getByTestId('slot-change').textContent()).toBe(
      'Slot green is new: it goes to version 1. Requests with "alias": "green" get version 1; production does not change until the slot is activated.',
    );
    await dialog.getByTestId('slot-name').fill('production');
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toBe('Production is not a slot: use Promote to move it.');
    await dialog.getByTestId('slot-name').fill('Blue!');
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toMatch(/^Slot "Blue!": a name of lowercase letters/);
    await dialog.getByTestId('slot-name').fill('green');
    let sent = page.waitForRequest((r) => r.url().endsWith('/v1/models/hotel/promote'));
    await dialog.getByTestId('confirm').click();
    expect((await sent).postDataJSON()).toEqual({ version: 1, target: 'green' });
    await poll(() => page.locator('[role=status]').textContent()).toBe('Slot green of hotel holds version 1.');
    await poll(() => page.locator('[data-testid=slots-table] tr[data-slot=green] td').first().textContent()).toBe('v1');
    // The other version goes to another slot: offered the slot not serving production.
    await page.getByTestId('to-slot-2').click();
    expect(await dialog.getByTestId('slot-name').inputValue()).toBe('green');
    expect(await dialog.getByTestId('slot-change').textContent()).toMatch(/^Slot green moves from version 1 to version 2\./);
    await dialog.getByTestId('slot-name').fill('blue');
    await dialog.getByTestId('confirm').click();
    await poll(() => page.locator('[data-testid=slots-table] tr[data-slot=blue] td').first().textContent()).toBe('v2 (production)');
    expect(await page.getByTestId('activate-blue').count()).toBe(0); // it is production already
    expect((await api('GET', '/v1/models/hotel')).body.aliases as Record<string, number>).toEqual({ production: 2, green: 1, blue: 2 });

    // Someone moves green meanwhile: the page still shows version 1 there, and activating it is refused.
    expect((await api('POST', '/v1/models/hotel/promote', { version: 2, target: 'green' })).status).toBe(200);
    await page.getByTestId('activate-green').click();
    await poll(() => dialog.textContent()).toMatch(/Production of hotel moves from version 2 to version 1, the version in slot green\./);
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toMatch(/^slot green of hotel holds version 2, not 1: it moved since; nothing activated/);
    expect(browserErrors.filter((e) => /status of 409/.test(e))).toHaveLength(1);
    browserErrors.splice(
      browserErrors.findIndex((e) => /status of 409/.test(e)),
      1,
    );
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.reload();
    await poll(() => page.locator('[data-testid=slots-table] tr[data-slot=green] td').first().textContent()).toBe('v2 (production)');
    // Green goes back to 1 (production stays), then is activated.
    await page.getByTestId('rollback-green').click();
    await poll(() => dialog.textContent()).toMatch(/Slot green goes back from version 2 to version 1\. Production stays at version 2: roll back production for that\./);
    sent = page.waitForRequest((r) => r.url().endsWith('/v1/models/hotel/rollback'));
    await dialog.getByTestId('confirm').click();
    expect((await sent).postDataJSON()).toEqual({ slot: 'green', version: 2 });
    await poll(() => page.locator('[role=status]').textContent()).toBe('Slot green of hotel is back to version 1.');
    await poll(() => page.getByTestId('activate-green').count()).toBe(1);
    await page.getByTestId('activate-green').click();
    sent = page.waitForRequest((r) => r.url().endsWith('/v1/models/hotel/promote'));
    await dialog.getByTestId('confirm').click();
    expect((await sent).postDataJSON()).toEqual({ target: 'green', activate: true, slot_version: 1, from_version: 2 });
    await poll(() => page.locator('[role=status]').textContent()).toBe('Slot green is active: version 1 of hotel is production.');
    const model = (await api('GET', '/v1/models/hotel')).body as { aliases: Record<string, number>; alias_history: { alias: string; version: number; action: string }[] };
    expect(model.aliases).toEqual({ production: 1, green: 1, blue: 2 });
    expect(model.alias_history[0]).toMatchObject({ alias: 'production', version: 1, action: 'activate' });
    await poll(() => page.getByTestId('activate-blue').count()).toBe(1);
    expect(await misalignedRows(page, '[data-testid=slots-table]')).toEqual([]);
    await shot('model-slots');
    expect(await a11y(page)).toEqual([]);
    // Back to production 2, as the tests after this one expect.
    expect((await api('POST', '/v1/models/hotel/promote', { target: 'blue', activate: true })).status).toBe(200);
  });

  it("a version that decides other things than production is said before it answers production's clients: promote, canary and slot dialogs", async () => {
    const bands = THREE_BANDS;
    await s.ctx.registry.register({ model: 'tiered', onnx: demo.onnx, policy: { type: 'threshold', threshold: 0.5, above: 'act', below: 'none' }, actor: 't' });
    await s.ctx.registry.register({ model: 'tiered', onnx: demo.onnx, policy: bands, actor: 't' });
    await s.ctx.registry.promote({ model: 'tiered', target: 'production', version: 1, actor: 't' });
    await s.ctx.registry.promote({ model: 'tiered', target: 'blue', version: 2, actor: 't' });
    await page.goto(`${s.url}/ui/#/models/tiered`);
    const row = (v: number) => page.locator(`[data-testid=versions-table] tr[data-version="${v}"] td`).nth(2);
    await poll(() => row(2).textContent()).toBe('allow, review, block');
    expect(await row(1).textContent()).toBe('none, act');
    const note = 'Version 2 decides allow, review, block; production (version 1) decides none, act: the clients it answers get decisions they were never given.';
    const dialog = page.locator('dialog[open]');
    for (const action of ['promote-2', 'canary-2', 'activate-blue']) {
      await page.getByTestId(action).click();
      await poll(() => dialog.textContent()).toContain(note);
      await dialog.getByRole('button', { name: 'Cancel' }).click();
    }
    // Production's own row, and a version deciding alike, say nothing.
    await page.getByTestId('to-slot-1').click();
    expect(await dialog.textContent()).not.toContain('decisions they were never given');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
  });

  it("a version that takes inputs production's clients do not send is said before it answers them: promote, canary and activate dialogs, whose confirmation accepts it", async () => {
    await s.ctx.registry.register({ model: 'mixed', onnx: demo.onnx, actor: 't' });
    await s.ctx.registry.register({ model: 'mixed', onnx: fixture('telco_churn').onnx, actor: 't' });
    await s.ctx.registry.promote({ model: 'mixed', target: 'production', version: 1, actor: 't' });
    await page.goto(`${s.url}/ui/#/models/mixed`);
    const note =
      "Version 2 takes none of production (version 1)'s features (its 19: SeniorCitizen, tenure, MonthlyCharges, TotalCharges, gender and 14 more): requests made for production (version 1) are refused (400) without gender, Partner, Dependents and 12 more.";
    const dialog = page.locator('dialog[open]');
    for (const action of ['promote-2', 'canary-2']) {
      await poll(() => page.getByTestId(action).count()).toBe(1);
      await page.getByTestId(action).click();
      await poll(() => dialog.textContent()).toContain(note);
      await dialog.getByRole('button', { name: 'Cancel' }).click();
    }
    // The server refuses the move unless it is accepted; confirming the dialog that said all this accepts it.
    const refused = await api('POST', '/v1/models/mixed/promote', { version: 2 });
    expect(refused.status).toBe(409);
    expect((refused.body.error as { details: { field: string } }).details.field).toBe('accept_new_inputs');
    expect((await api('POST', '/v1/canary', { model: 'mixed', canary_version: 2, canary_percent: 10 })).status).toBe(409);
    await page.getByTestId('canary-2').click();
    await poll(() => dialog.textContent()).toContain(note);
    await dialog.getByTestId('confirm').click();
    await poll(async () => (await api('GET', '/v1/canary/mixed')).body.canary_version).toBe(2);
    expect((await api('POST', '/v1/canary/mixed/stop', {})).status).toBe(200);
    await page.getByTestId('promote-2').click();
    await poll(() => dialog.textContent()).toContain(note);
    await dialog.getByTestId('confirm').click();
    await poll(async () => ((await api('GET', '/v1/models/mixed')).body.aliases as Record<string, number>).production).toBe(2);
    // Slot blue holds version 1, which takes none of production's (version 2's) features: the Activate dialog says so, and confirming it accepts.
    expect((await api('POST', '/v1/models/mixed/promote', { version: 1, target: 'blue' })).status).toBe(200);
    expect((await api('POST', '/v1/models/mixed/promote', { target: 'blue', activate: true })).status).toBe(409);
    await page.goto(`${s.url}/ui/#/models/mixed`);
    await page.reload();
    await poll(() => page.getByTestId('activate-blue').count()).toBe(1);
    await page.getByTestId('activate-blue').click();
    await poll(() => dialog.textContent()).toContain("Version 1 takes none of production (version 2)'s features");
    await dialog.getByTestId('confirm').click();
    await poll(async () => ((await api('GET', '/v1/models/mixed')).body.aliases as Record<string, number>).production).toBe(1);
  });

  it('the monitoring page shows the drifted feature first, and its HTML report opens from disk with the network blocked', async () => {
    // Traffic where lead_time has tripled: the drift the report must put first.
    for (let i = 0; i < 80; i++) {
      const payload = rowPayload(demo.holdout.data, i);
      expect((await api('POST', '/v1/infer', { model: 'hotel', payload: { ...payload, lead_time: Number(payload.lead_time) * 3 + 30 } })).status).toBe(200);
    }
    await s.audit.flush();
    await page.goto(`${s.url}/ui/#/monitoring/hotel`);
    await page.getByTestId('run-report').click();
    const firstFeature = page.locator('[data-testid=feature-table] tbody tr').first();
    await poll(() => firstFeature.textContent()).toMatch(/^lead_time.*drifted/);
    await poll(() => page.getByTestId('distribution-feature').textContent()).toBe('lead_time');
    await shot('monitoring');
    expect(await a11y(page)).toEqual([]);

    const history = await api('GET', '/v1/monitoring/hotel/history?limit=1');
    const id = (history.body.reports as { id: string }[])[0].id;
    const res = await fetch(`${s.url}/v1/monitoring/hotel/reports/${id}.html`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const file = path.join(tempDir(), 'report.html');
    writeFileSync(file, await res.text());
    const offline = await browser.newContext({ offline: true });
    const requests: string[] = [];
    offline.on('request', (r) => !r.url().startsWith('file:') && requests.push(r.url()));
    const reportPage = await offline.newPage();
    const errors: string[] = [];
    reportPage.on('pageerror', (e) => errors.push(e.message));
    await reportPage.goto(pathToFileURL(file).href);
    const first = reportPage.locator('[data-testid=feature-table] tbody tr').first();
    await poll(() => first.textContent()).toMatch(/^lead_time.*drifted/);
    expect(await reportPage.locator('.chart canvas').count()).toBeGreaterThan(0);
    // p-values all to three places (lead_time's, tripled, below 0.001); the chart's key names the series without an empty readout.
    const pValues = await reportPage.locator('[data-testid=feature-table] tbody tr td:nth-of-type(4)').allTextContents();
    expect(pValues.length).toBeGreaterThan(3);
    for (const v of pValues) expect(v).toMatch(/^(< 0\.001|[01]\.\d{3}|—)$/);
    expect(pValues[0]).toBe('< 0.001');
    expect((await reportPage.locator('.u-legend').first().textContent())!.trim()).toMatch(/^reference\s*window$/);
    await reportPage.screenshot({ path: path.join(SHOTS, 'report-html.png'), fullPage: true });
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    await offline.close();
  });

  it('a model with no reports, no canary and no predictions shows helpful empty states and no errors', async () => {
    await s.ctx.registry.register({ model: 'fresh', onnx: demo.onnx, actor: 't' });
    await page.goto(`${s.url}/ui/#/monitoring/fresh`);
    await poll(() => page.locator('.empty').first().textContent()).toMatch(/No monitoring report for fresh yet/);
    await page.goto(`${s.url}/ui/#/rollout/fresh`);
    await poll(() => page.locator('.empty').first().textContent()).toMatch(/No canary running for fresh/);
    await page.goto(`${s.url}/ui/#/decisions/fresh`);
    await poll(() => page.locator('.empty').first().textContent()).toMatch(/No predictions in this window/);
    await shot('empty-states');
    // Decisions without a model named: the first model that serves, not "fresh" (first by name, no production).
    await page.goto(`${s.url}/ui/#/decisions`);
    await poll(() => page.locator('h1').textContent()).toBe('Decisions: hotel');
  });

  it('a read-only key sees no action buttons, and the API refuses the action with 403', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(readToken);
    await poll(() => page.getByTestId('who').textContent()).toMatch(/viewer \(read\)/);
    await page.goto(`${s.url}/ui/#/models/hotel`);
    await poll(() => page.locator('[data-testid=versions-table] tbody tr').count()).toBe(2);
    expect(
      await page
        .locator(
          '[data-testid^=promote-], [data-testid^=archive-], [data-testid^=restore-], [data-testid^=shadow-], [data-testid^=canary-], [data-testid^=to-slot-], [data-testid^=activate-], [data-testid^=rollback]',
        )
        .count(),
    ).toBe(0);
    expect(await page.getByRole('link', { name: 'Access' }).count()).toBe(0);
    // Calling the action anyway, from the page with its own token:
    const status = await page.evaluate(async () => {
      const token = (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('modelgate.token');
      const r = await fetch('/v1/models/hotel/promote', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ version: 1 }) });
      return r.status;
    });
    expect(status).toBe(403);
    await shot('model-read-only');
  });

  it('names and text from a manifest are shown as text, never run (a <script> and quotes in the description and a metric name)', async () => {
    const hostile = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>"'`;
    await s.ctx.registry.register({ model: 'tricky', onnx: demo.onnx, manifest: { description: hostile, metrics: { [hostile]: 0.5 } }, actor: 't' });
    await page.goto(`${s.url}/ui/#/models/tricky`);
    await poll(() => page.locator('main > p').first().textContent()).toBe(hostile);
    await page.getByRole('button', { name: 'v1' }).click();
    await poll(() => page.locator('.metrics dt').first().textContent()).toBe(hostile);
    // Each version's own description is a column of its own, and the production version's is the headline.
    expect(await page.locator('[data-testid=versions-table] tbody tr').first().textContent()).toContain(hostile);
    await s.ctx.registry.promote({ model: 'tricky', target: 'production', version: 1, actor: 't' });
    await page.reload();
    await poll(() => page.locator('main > p').first().textContent()).toBe(`Production v1: ${hostile}`);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('main img').count()).toBe(0);
  });

  it('a feature named with <script> and quotes is shown as text in the drift table, on the page and in the HTML report', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(TOKEN);
    await poll(() => page.getByTestId('who').textContent()).toMatch(/admin-token/);
    const { onnx, expected } = fixture('telco_numeric');
    const featureNames = expected.feature_names!;
    const hostile = `tenure<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">"'`;
    const names = featureNames.map((n) => (n === 'tenure' ? hostile : n));
    const policy = { type: 'threshold' as const, threshold: 0.5, above: 'act', below: 'none' };
    const reference = buildReference({
      features: names.map((name, j) => ({ name, kind: 'numeric' as const, values: expected.rows.map((r) => r[featureNames[j]]) })),
      scores: expected.proba,
      decisions: expected.proba.map((p) => (p > 0.5 ? 'act' : 'none')),
      policy,
    });
    await s.ctx.registry.register({ model: 'xss', onnx, featureNames: names, manifest: { reference }, policy, actor: 't' });
    await s.ctx.registry.promote({ model: 'xss', target: 'production', version: 1, actor: 't' });
    await s.pool.refresh(true);
    for (let i = 0; i < 60; i++) {
      const row = expected.rows[i];
      const payload = Object.fromEntries(names.map((n, j) => [n, j === 1 ? Number(row.tenure) * 3 + 40 : row[featureNames[j]]]));
      expect((await api('POST', '/v1/infer', { model: 'xss', payload })).status).toBe(200);
    }
    await s.audit.flush();
    await page.goto(`${s.url}/ui/#/monitoring/xss`);
    await page.getByTestId('run-report').click();
    const first = page.locator('[data-testid=feature-table] tbody tr th').first();
    await poll(() => first.textContent()).toBe(hostile);
    await poll(() => page.getByTestId('distribution-feature').textContent()).toBe(hostile);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator('main img').count()).toBe(0);
    await shot('monitoring-hostile-feature');

    const history = await api('GET', '/v1/monitoring/xss/history?limit=1');
    const id = (history.body.reports as { id: string }[])[0].id;
    const html = await (await fetch(`${s.url}/v1/monitoring/xss/reports/${id}.html`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    const file = path.join(tempDir(), 'hostile.html');
    writeFileSync(file, html);
    const offline = await browser.newContext({ offline: true });
    const reportPage = await offline.newPage();
    await reportPage.goto(pathToFileURL(file).href);
    await poll(() => reportPage.locator('[data-testid=feature-table] tbody tr th').first().textContent()).toBe(hostile);
    expect(await reportPage.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await offline.close();
  });

  it('keyboard only: an action is reached by focus, Enter opens its confirmation, Escape closes it', async () => {
    await page.goto(`${s.url}/ui/#/rollout/hotel`);
    await api('POST', '/v1/canary', { model: 'hotel', canary_version: 1, canary_percent: 10 }, TOKEN);
    await poll(() => page.getByTestId('stop-canary').count()).toBe(1);
    await page.getByTestId('stop-canary').focus();
    await page.keyboard.press('Enter');
    await poll(() => page.locator('dialog[open]').count()).toBe(1);
    // Focus moved into the dialog; Escape cancels without stopping anything.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { closest(s: string): unknown } | null } }).document.activeElement?.closest('dialog') != null)).toBe(true);
    await page.keyboard.press('Escape');
    await poll(() => page.locator('dialog[open]').count()).toBe(0);
    // Following a link moves focus to the new page's content and names the page in the tab's title.
    await page.getByRole('link', { name: 'Monitoring' }).first().focus();
    await page.keyboard.press('Enter');
    await poll(() => page.title()).toBe('hotel · Monitoring — modelgate');
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document.activeElement?.id)).toBe('content');
    await page.goBack();
    await poll(() => page.title()).toBe('hotel · Rollout — modelgate');
    expect((await api('GET', '/v1/canary/hotel')).body.canary_version).toBe(1);
    await api('POST', '/v1/canary/hotel/stop', {});
  });

  it('reads well at 390 px wide: nothing but tables scrolls sideways, no serious accessibility problem', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const p = await phone.newPage();
    await p.goto(`${s.url}/ui/`);
    await p.getByLabel('API key or admin token').fill(TOKEN);
    await p.getByRole('button', { name: 'Sign in' }).click();
    for (const [name, hash, ready] of [
      ['models', '#/models', '[data-testid=models-table]'],
      ['monitoring', '#/monitoring/hotel', '[data-testid=feature-table]'],
      ['decisions', '#/decisions/hotel', '[data-testid=predictions-table]'],
      ['access', '#/access', '[data-testid=keys-table]'],
    ] as const) {
      await p.goto(`${s.url}/ui/${hash}`);
      await poll(() => p.locator(ready).count()).toBe(1);
      const width = await p.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
      expect(width, name).toBeLessThanOrEqual(390);
      await p.screenshot({ path: path.join(SHOTS, `${name}-390px.png`), fullPage: true });
      expect(await a11y(p), name).toEqual([]);
    }
    await phone.close();
  });

  it('an admin creates a key from the access page: its token shown once, its limit and expiry listed, and it works as made', async () => {
    await page.goto(`${s.url}/ui/#/access`);
    await page.getByTestId('create-key').click();
    const dialog = page.locator('dialog[open]');
    await dialog.getByTestId('key-name').fill('batch-scorer');
    await dialog.getByTestId('key-scope-infer').uncheck();
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toBe('Scopes: pick at least one.');
    await dialog.getByTestId('key-scope-read').check();
    await dialog.getByTestId('key-rate').fill('fast');
    await dialog.getByTestId('confirm').click();
    // The server's own reason, in the dialog.
    await poll(() => dialog.getByRole('alert').textContent()).toMatch(/rate/);
    // That refusal is the one 400 the browser logs here.
    expect(browserErrors.filter((e) => /status of 400/.test(e))).toHaveLength(1);
    browserErrors.splice(
      browserErrors.findIndex((e) => /status of 400/.test(e)),
      1,
    );
    await dialog.getByTestId('key-rate').fill('50/s');
    await dialog.getByTestId('key-expires').fill('90d');
    await dialog.getByTestId('confirm').click();
    await poll(() => page.getByTestId('new-token').textContent()).toMatch(/^mg_/);
    const token = await page.getByTestId('new-token').textContent();
    expect(await page.locator('p.done').textContent()).toMatch(/^New token for batch-scorer \(shown once; copy it now\)/);
    const row = page.locator('[data-testid=keys-table] tbody tr', { hasText: 'batch-scorer' });
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(0, 5)).toEqual([expect.stringMatching(/^mg_\S+…$/), 'read', '50/s', expect.not.stringMatching(/^never$/), 'active']);
    expect(await misalignedRows(page, '[data-testid=keys-table]')).toEqual([]);
    const who = await fetch(`${s.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(await who.json()).toMatchObject({ name: 'batch-scorer', scopes: ['read'] });
    const listed = ((await api('GET', '/v1/keys')).body.keys as { name: string; rate_limit: string; expires_at: string }[]).find((k) => k.name === 'batch-scorer')!;
    expect(listed.rate_limit).toBe('50/s');
    expect(Date.parse(listed.expires_at) - Date.now()).toBeGreaterThan(89 * 86_400_000);
    // Rotated with a grace: the row says until when the old token still works.
    const id = ((await api('GET', '/v1/keys')).body.keys as { id: string; name: string }[]).find((k) => k.name === 'batch-scorer')!.id;
    const rotated = await api('POST', `/v1/keys/${id}/rotate`, { grace: '2h' });
    const until = new Date((rotated.body.key as { previous_valid_until: string }).previous_valid_until);
    expect(Math.abs(until.getTime() - Date.now() - 2 * 3_600_000)).toBeLessThan(60_000);
    await page.reload();
    await poll(() => row.locator('td').nth(4).textContent()).toBe(`active, old token until ${await page.evaluate((t) => new Date(t).toLocaleString(), until.toISOString())}`);
    await shot('access-create');
    expect(await a11y(page)).toEqual([]);
  });

  it('an admin revokes a key from the access page; the key is refused from then on', async () => {
    await page.goto(`${s.url}/ui/#/access`);
    const row = page.locator('[data-testid=keys-table] tbody tr', { hasText: 'viewer' });
    await poll(() => row.getByRole('button', { name: 'Revoke' }).count()).toBe(1);
    expect(await misalignedRows(page, '[data-testid=keys-table]')).toEqual([]);
    // No rate of its own, and this server sets no RATE_LIMIT_DEFAULT: not limited, and said so.
    expect(await row.locator('td').nth(2).textContent()).toBe('none (no default set)');
    await row.getByRole('button', { name: 'Revoke' }).click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/Every request with a token of viewer is refused/);
    await page.locator('dialog[open] [data-testid=confirm]').click();
    await poll(() => row.locator('td').nth(4).textContent()).toBe('revoked');
    expect((await api('GET', '/v1/models', undefined, readToken)).status).toBe(401);
    await shot('access');
    expect(await a11y(page)).toEqual([]);
  });

  it('a key revoked while its user is signed in: the next call signs the page out with the reason, and nothing stays shown', async () => {
    const key = await api('POST', '/v1/keys', { name: 'leaver', scopes: ['read'] });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(key.body.token as string);
    await poll(() => page.getByTestId('who').textContent()).toMatch(/leaver/);
    expect((await api('DELETE', `/v1/keys/${(key.body.key as { id: string }).id}`)).status).toBe(200);
    // The models page asks for running rollouts every 5 s; the server refuses the revoked key.
    await page.goto(`${s.url}/ui/#/models`);
    await poll(() => page.getByRole('alert').textContent()).toMatch(/Signed out: the server refused the token/);
    expect(await page.locator('[data-testid=models-table]').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('modelgate.token'))).toBeNull();
  });

  it('the access page shows a disabled webhook with its reason, and an admin rotates a secret, shown once', async () => {
    const hook = await api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:19999/console-hook' });
    const gone = await api('POST', '/v1/webhooks', { url: 'http://127.0.0.1:19999/gone-hook' });
    await s.ctx.db.kysely
      .updateTable('webhook_subscriptions')
      .set({ enabled: 0, disabled_reason: 'the receiver answered 410 Gone at 2026-12-01T00:00:00.000Z' })
      .where('id', '=', gone.body.id as string)
      .execute();
    // The test before left the page signed out.
    await signIn(TOKEN);
    await poll(() => page.getByTestId('who').textContent()).toMatch(/admin/);
    await page.goto(`${s.url}/ui/#/access`);
    const row = page.locator('[data-testid=webhooks-table] tbody tr', { hasText: 'console-hook' });
    await poll(() => page.locator('[data-testid=webhooks-table] tbody tr', { hasText: 'gone-hook' }).textContent()).toMatch(/disabled: the receiver answered 410 Gone/);
    expect(await row.textContent()).toMatch(/enabled/);
    await row.getByRole('button', { name: 'Rotate secret' }).click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/signed with the old and the new secret/);
    await page.locator('dialog[open] [data-testid=confirm]').click();
    await poll(() => page.getByTestId('new-secret').count()).toBe(1);
    const shown = (await page.getByTestId('new-secret').textContent()) ?? '';
    expect(shown).toMatch(/^whsec_/);
    expect(shown).not.toBe(hook.body.secret);
    await poll(() => row.textContent()).toMatch(/old secret signs too until/);
    // The secret shown is the one the subscription now signs with: the API refuses it as "new".
    expect(await api('POST', `/v1/webhooks/${hook.body.id as string}/rotate-secret`, { secret: shown })).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringMatching(/current secret/) } },
    });
    expect(await misalignedRows(page, '[data-testid=webhooks-table]')).toEqual([]);
    await shot('access-webhooks');
    expect(await a11y(page)).toEqual([]);
    // The disabled one, enabled again from its row.
    const goneRow = page.locator('[data-testid=webhooks-table] tbody tr', { hasText: 'gone-hook' });
    await goneRow.getByRole('button', { name: 'Enable' }).click();
    await poll(() => page.locator('dialog[open]').textContent()).toMatch(/Those while it was disabled are not sent/);
    await page.locator('dialog[open] [data-testid=confirm]').click();
    await poll(() => goneRow.locator('td').nth(2).textContent()).toBe('enabled');
    expect(await goneRow.getByRole('button', { name: 'Enable' }).count()).toBe(0);
    expect(((await api('GET', '/v1/webhooks')).body.subscriptions as { id: string; enabled: boolean }[]).find((x) => x.id === gone.body.id)?.enabled).toBe(true);
  });

  it("a delivery's attempts open under its row: each answer, and what the receiver said", async () => {
    const { createServer } = await import('node:http');
    const { emitToOutbox } = await import('../src/webhooks/index.js');
    // Refuses until fixed; then takes every event, noting its webhook-id.
    let fixed = false;
    const took: string[] = [];
    const rx = createServer((req, res) => {
      if (!fixed) return res.writeHead(500, { 'content-type': 'text/plain' }).end('<b>schema mismatch</b>: field "data.version" must be a string');
      took.push(String(req.headers['webhook-id']));
      res.writeHead(200).end();
    });
    await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(rx.address() as net.AddressInfo).port}/history-hook`;
      expect((await api('POST', '/v1/webhooks', { url, events: ['monitor.report'] })).status).toBe(200);
      await emitToOutbox(s.ctx.db.kysely, 'monitor.report', { model: 'history-test' }, new Date().toISOString());
      await poll(async () => {
        await s.webhookWorker.tick();
        await s.webhookWorker.idle();
        return ((await api('GET', '/v1/webhooks/deliveries?limit=1000')).body.deliveries as { url: string; attempts: number }[]).find((d) => d.url === url)?.attempts ?? 0;
      }).toBeGreaterThanOrEqual(1);
      // The page is on #/access already: loaded again, it lists the delivery made since.
      await page.goto(`${s.url}/ui/#/access`);
      await page.reload();
      const row = page.locator('[data-testid=deliveries-table] > tbody > tr', { hasText: url });
      await poll(() => row.count()).toBe(1);
      expect(await row.locator('td').nth(4).textContent()).toBe('HTTP 500');
      await row.getByRole('button', { name: 'Attempts' }).click();
      const history = page.getByTestId('delivery-history');
      await poll(() => history.locator('tbody tr').count()).toBeGreaterThanOrEqual(1);
      const first = history.locator('tbody tr').first();
      expect(await first.locator('td').nth(0).textContent()).toBe('1');
      expect(await first.locator('td').nth(2).textContent()).toBe('HTTP 500');
      // The receiver's answer as text, never as markup.
      expect(await first.locator('td').nth(4).textContent()).toBe('<b>schema mismatch</b>: field "data.version" must be a string');
      expect(await first.locator('td b').count()).toBe(0);
      expect(await row.getByRole('button', { name: 'Hide attempts' }).getAttribute('aria-expanded')).toBe('true');
      expect(await a11y(page)).toEqual([]);
      await shot('access-delivery-history');
      await row.getByRole('button', { name: 'Hide attempts' }).click();
      await poll(() => history.count()).toBe(0);
      // A test event from the subscription's row: the receiver's refusal, in words.
      const sub = page.locator('[data-testid=webhooks-table] tbody tr', { hasText: 'history-hook' });
      await sub.getByRole('button', { name: 'Send test' }).click();
      await poll(() => page.locator('p.done').textContent()).toMatch(
        new RegExp(`^Test event not delivered to ${url.replace(/[.]/g, '\\.')}: HTTP 500 in \\d+ ms; the receiver answered: <b>schema mismatch</b>: field "data\\.version" must be a string\\.$`),
      );
      // A pending delivery has nothing to redeliver; a delivered one is sent again from its row, with the same webhook-id.
      expect(await row.getByRole('button', { name: 'Redeliver' }).count()).toBe(0);
      // (The first event's delivery, retried 5 s on, may be delivered meanwhile too: left out by its id.)
      type Listed = { id: string; event_id: string; url: string };
      const firstId = ((await api('GET', '/v1/webhooks/deliveries?limit=1000')).body.deliveries as Listed[]).find((d) => d.url === url)!.id;
      fixed = true;
      await emitToOutbox(s.ctx.db.kysely, 'monitor.report', { model: 'history-test-2' }, new Date().toISOString());
      const deliveredTo = async () => ((await api('GET', '/v1/webhooks/deliveries?status=delivered&limit=1000')).body.deliveries as Listed[]).filter((d) => d.url === url && d.id !== firstId);
      await poll(async () => {
        await s.webhookWorker.tick();
        await s.webhookWorker.idle();
        return (await deliveredTo()).length;
      }).toBe(1);
      const [done] = await deliveredTo();
      await page.reload();
      const doneRow = page
        .locator('[data-testid=deliveries-table] > tbody > tr', { hasText: url })
        .filter({ hasText: 'delivered' })
        .filter({ has: page.locator('td:nth-child(4)', { hasText: /^1$/ }) });
      await poll(() => doneRow.count()).toBe(1);
      await doneRow.getByRole('button', { name: 'Redeliver' }).click();
      await poll(() => page.locator('dialog[open]').textContent()).toMatch(/same event id \(webhook-id\) and body, signed anew; it is now delivered after 1 attempt\. A receiver that deduplicates/);
      await page.locator('dialog[open] [data-testid=confirm]').click();
      await poll(() => page.locator('p.done').textContent()).toBe(`The monitor.report event is queued for ${url} again.`);
      // Queued again: pending, or already delivered by the server's own worker tick (every second) since the click.
      const again = (await api('GET', `/v1/webhooks/deliveries/${done.id}`)).body as { status: string; requeued: number };
      expect(again.requeued).toBe(1);
      expect(['pending', 'delivered']).toContain(again.status);
      await poll(async () => {
        await s.webhookWorker.tick();
        await s.webhookWorker.idle();
        return took.filter((id) => id === done.event_id).length;
      }).toBe(2);
      expect((await api('GET', `/v1/webhooks/deliveries/${done.id}`)).body).toMatchObject({ status: 'delivered', attempts: 2 });
    } finally {
      rx.closeAllConnections();
      await new Promise<void>((r) => rx.close(() => r()));
    }
  });

  it('an admin adds a webhook for chosen events (its secret shown once, the same one the receiver is signed with), then removes it', async () => {
    await page.goto(`${s.url}/ui/#/access`);
    await page.getByTestId('add-webhook').click();
    const dialog = page.locator('dialog[open]');
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toMatch(/^URL: give the address/);
    await dialog.getByTestId('webhook-url').fill('http://127.0.0.1:19999/retrain-hook');
    await dialog.getByTestId('webhook-event-retrain.registered').check();
    await dialog.getByTestId('webhook-event-retrain.gated_out').check();
    await dialog.getByTestId('confirm').click();
    await poll(() => page.getByTestId('new-secret').textContent()).toMatch(/^whsec_/);
    const row = page.locator('[data-testid=webhooks-table] tbody tr', { hasText: 'retrain-hook' });
    await poll(() => row.locator('td').nth(1).textContent()).toBe('retrain.gated_out, retrain.registered');
    const added = ((await api('GET', '/v1/webhooks')).body.subscriptions as { id: string; url: string; events: string[] }[]).find((x) => x.url.endsWith('/retrain-hook'))!;
    expect(added.events).toEqual(['retrain.gated_out', 'retrain.registered']);
    // The secret shown is the one it signs with: the API refuses it as a "new" one.
    expect(await api('POST', `/v1/webhooks/${added.id}/rotate-secret`, { secret: await page.getByTestId('new-secret').textContent() })).toMatchObject({
      status: 400,
      body: { error: { message: expect.stringMatching(/current secret/) } },
    });
    // Added again with the same events: nothing new, and no secret, said so.
    await page.getByTestId('add-webhook').click();
    await dialog.getByTestId('confirm').click();
    await poll(() => page.locator('p.done').textContent()).toMatch(/retrain-hook is subscribed to these events already; its secret was shown when it was added/);
    await row.getByRole('button', { name: 'Remove' }).click();
    await poll(() => dialog.textContent()).toMatch(/No more events are sent to http:\/\/127\.0\.0\.1:19999\/retrain-hook/);
    await dialog.getByTestId('confirm').click();
    await poll(() => row.count()).toBe(0);
    expect(((await api('GET', '/v1/webhooks')).body.subscriptions as { url: string }[]).some((x) => x.url.endsWith('/retrain-hook'))).toBe(false);
    expect(await a11y(page)).toEqual([]);
  });

  it('the retrain plan from the model page: set with its checks, the runs listed with their outcome, removed', async () => {
    await registerTrained(s, generateHotelBookings(800, 11), 'renewal');
    const data = path.join(tempDir(), 'renewal.csv');
    writeFileSync(data, csvOf(generateHotelBookings(800, 12)));
    // Traffic unlike the training data (every number five times larger, unseen categories): the report recommends retraining, and says where.
    const base = generateHotelBookings(80, 14);
    for (let i = 0; i < 80; i++) {
      const shifted = Object.fromEntries(Object.entries(rowPayload(base, i)).map(([k, v]) => [k, v === null ? null : typeof v === 'number' ? v * 5 + 3 : `new-${v}`]));
      expect((await api('POST', '/v1/infer', { model: 'renewal', payload: shifted })).status).toBe(200);
    }
    await s.audit.flush();
    await page.goto(`${s.url}/ui/#/monitoring/renewal`);
    await page.getByTestId('run-report').click();
    await poll(() => page.getByTestId('retrain-hint').textContent()).toMatch(/^This report recommends retraining\. The model page's Retraining section retrains now/);
    await page.getByTestId('retrain-link').click();
    await poll(() => page.getByTestId('retrain-plan').textContent()).toMatch(/^No retrain plan: retraining is by hand/);
    // The hotel model's report (one feature drifted) does not say it.
    await page.goto(`${s.url}/ui/#/monitoring/hotel`);
    await poll(() => page.locator('[data-testid=feature-table] tbody tr').count()).toBeGreaterThan(3);
    expect(await page.getByTestId('retrain-hint').count()).toBe(0);
    await page.goto(`${s.url}/ui/#/models/renewal`);
    await poll(() => page.getByTestId('retrain-plan').textContent()).toMatch(/^No retrain plan: retraining is by hand/);
    // The version's held-out ROC AUC beside it, as its manifest records it.
    const trainedAuc = ((await s.ctx.registry.getVersion('renewal', 1)).manifest.metrics as { roc_auc: number }).roc_auc;
    expect(await page.locator('[data-testid=versions-table] tr[data-version="1"] td').nth(3).textContent()).toBe(`ROC AUC ${trainedAuc.toFixed(4)}`);
    expect(await page.getByTestId('retrain-plan-remove').count()).toBe(0);
    const dialog = page.locator('dialog[open]');
    await page.getByTestId('retrain-plan-set').click();
    expect(await dialog.getByTestId('retrain-min-interval').inputValue()).toBe('7d');
    // A relative path would be read from the server's own directory: refused, and said.
    await dialog.getByTestId('retrain-data').fill('exports/renewal.csv');
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toMatch(/is a relative path.*give an absolute path/);
    await dialog.getByTestId('retrain-data').fill(data);
    await dialog.getByTestId('retrain-steps').fill('10, 50 100');
    await dialog.getByTestId('retrain-step-interval').fill('30m');
    await dialog.getByTestId('retrain-min-interval').fill('3d');
    const sent = page.waitForRequest((r) => r.url().endsWith('/v1/models/renewal/retrain') && r.method() === 'PUT');
    await dialog.getByTestId('confirm').click();
    expect((await sent).postDataJSON()).toEqual({ data, canary_steps: [10, 50, 100], step_interval: '30m', min_interval: '3d', max_metric_drop: 0 });
    await poll(() => page.locator('[role=status]').textContent()).toBe('The retrain plan of renewal is set.');
    await poll(() => page.getByTestId('retrain-plan').textContent()).toContain(
      `When a scheduled monitoring report recommends retraining, production is trained again on ${data}; the candidate is registered if it passes its gates and it is at least as good as production on the new data's held-out rows, then sent out as a canary (10 → 50 → 100 %, at least 30m a step). At most once every 3d. Set by admin-token`,
    );
    expect(browserErrors.filter((e) => /status of 400/.test(e))).toHaveLength(1);
    browserErrors.splice(
      browserErrors.findIndex((e) => /status of 400/.test(e)),
      1,
    );
    // The plan as stored is what the page sent.
    expect((await api('GET', '/v1/models/renewal/retrain')).body.plan).toMatchObject({ data, canary_steps: [10, 50, 100], step_interval: '30m', min_interval_ms: 3 * 86_400_000 });
    // A retrain by hand (as modelgate retrain runs it) and one on the same data again: both listed, newest first.
    const first = await s.ctx.retrain.retrain({ model: 'renewal', data, maxMetricDrop: 1, trigger: 'manual', actor: 't' });
    expect(first.status).toBe('registered');
    expect((await s.ctx.retrain.retrain({ model: 'renewal', data, trigger: 'manual', actor: 't' })).status).toBe('unchanged');
    await page.reload();
    const runs = page.locator('[data-testid=retrain-runs] tbody tr');
    await poll(() => runs.count()).toBe(2);
    expect(await runs.nth(0).locator('td').allTextContents()).toEqual([
      expect.any(String),
      't',
      'nothing new',
      'from v1',
      expect.stringMatching(/^version 2 was retrained from version 1 on this data already/),
    ]);
    expect((await runs.nth(1).locator('td').allTextContents()).slice(1)).toEqual(['t', 'registered', 'from v1 → v2', '—']);
    expect(await misalignedRows(page, '[data-testid=retrain-runs]')).toEqual([]);
    await shot('model-retrain');
    expect(await a11y(page)).toEqual([]);
    // Retrain now, on newer data: the dialog starts from the plan's file; the run is listed, and its end shows without a reload.
    const newer = path.join(path.dirname(data), 'renewal-newer.csv');
    writeFileSync(newer, csvOf(generateHotelBookings(800, 13)));
    await page.getByTestId('retrain-now').click();
    expect(await dialog.getByTestId('retrain-now-data').inputValue()).toBe(data);
    await dialog.getByTestId('retrain-now-data').fill(newer);
    const started = page.waitForRequest((r) => r.url().endsWith('/v1/models/renewal/retrain/runs'));
    await dialog.getByTestId('confirm').click();
    expect((await started).postDataJSON()).toEqual({ data: newer });
    await poll(() => page.locator('[role=status]').textContent()).toBe(`Retraining renewal on ${newer}: the run is listed below until it ends.`);
    await poll(() => runs.count()).toBe(3);
    // Started from the page: the admin who started it is named.
    await poll(async () => (await runs.nth(0).locator('td').allTextContents()).slice(1, 3)).toEqual(['admin-token', expect.stringMatching(/^(registered|gated out)$/)]);
    const outcome = (await runs.nth(0).locator('td').allTextContents())[2];
    const newest = await s.ctx.retrain.runs('renewal', 1);
    expect(outcome).toBe(newest[0].status === 'registered' ? 'registered' : 'gated out');
    // The change dialog starts from the plan there is.
    await page.getByTestId('retrain-plan-set').click();
    expect(await dialog.getByTestId('retrain-data').inputValue()).toBe(data);
    expect(await dialog.getByTestId('retrain-steps').inputValue()).toBe('10, 50, 100');
    expect(await dialog.getByTestId('retrain-min-interval').inputValue()).toBe('3d');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('retrain-plan-remove').click();
    await dialog.getByTestId('confirm').click();
    await poll(() => page.locator('[role=status]').textContent()).toBe('The retrain plan of renewal is removed.');
    await poll(() => page.getByTestId('retrain-plan').textContent()).toMatch(/^No retrain plan/);
    expect((await api('GET', '/v1/models/renewal/retrain')).body.plan).toBeNull();
    // A read-only key sees the plan and runs, and nothing to change them with.
    const viewer = await api('POST', '/v1/keys', { name: 'retrain-viewer', scopes: ['read'] });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(viewer.body.token as string);
    await poll(() => page.getByTestId('who').textContent()).toMatch(/retrain-viewer \(read\)/);
    await page.goto(`${s.url}/ui/#/models/renewal`);
    await poll(() => runs.count()).toBe(3);
    expect(await page.getByTestId('retrain-now').count()).toBe(0);
    expect(await page.getByTestId('retrain-plan').textContent()).toMatch(/^No retrain plan/);
    expect(await page.getByTestId('retrain-plan-set').count()).toBe(0);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(TOKEN);
    await poll(() => page.getByTestId('who').textContent()).toMatch(/admin/);
  });

  it('an admin registers a model from an ONNX file and its reference CSV, then a second version from its page, said to decide other things', async () => {
    const dir = tempDir();
    const onnxFile = path.join(dir, 'uploaded.onnx');
    writeFileSync(onnxFile, demo.onnx);
    const referenceFile = path.join(dir, 'train.csv');
    writeFileSync(referenceFile, csvOf(generateHotelBookings(300, 21)));
    await page.goto(`${s.url}/ui/#/models`);
    await page.getByTestId('register-version').click();
    const dialog = page.locator('dialog[open]');
    // Nothing chosen yet: said in the dialog, nothing sent.
    await dialog.getByTestId('register-name').fill('uploaded');
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toMatch(/ONNX graph: choose the \.onnx file to register/);
    await dialog.getByTestId('register-onnx').setInputFiles(onnxFile);
    await dialog.getByTestId('register-reference').setInputFiles(referenceFile);
    await dialog.getByTestId('register-target').fill('is_canceled');
    await dialog.getByTestId('register-policy').fill('threshold=0.4');
    await dialog.getByTestId('register-promote').check();
    await shot('models-register');
    await dialog.getByTestId('confirm').click();
    await poll(() => page.locator('p.done').textContent()).toMatch(/^Registered uploaded version 1, now production\. Its reference: 300 rows profiled\. Open uploaded$/);
    const model = (await api('GET', '/v1/models/uploaded')).body;
    expect(model.aliases).toEqual({ production: 1 });
    expect((await api('GET', '/v1/models/uploaded/versions/1')).body).toMatchObject({
      created_by: 'admin-token',
      manifest: { policy: { type: 'threshold', threshold: 0.4 }, reference: { rows: 300 } },
    });
    // From the model's page: another policy, not promoted, and the note says what production's clients would meet.
    await page.getByRole('link', { name: 'Open uploaded' }).click();
    await poll(() => page.locator('h1').textContent()).toBe('uploaded');
    await page.getByTestId('register-version').click();
    expect(await dialog.getByTestId('register-name').count()).toBe(0);
    await dialog.getByTestId('register-onnx').setInputFiles(onnxFile);
    await dialog.getByTestId('register-policy').fill('bands=allow:0.3,review:0.7,block');
    await dialog.getByTestId('confirm').click();
    await poll(() => page.locator('p.done').textContent()).toMatch(
      /^Registered uploaded version 2\. No reference data: drift monitoring needs one\. Warning: version 2 decides allow, review, block and production \(version 1\) none, act: /,
    );
    await poll(() => page.locator('[data-testid=versions-table] tbody tr').count()).toBe(2);
    // A refusal from the server is said in the dialog.
    await page.getByTestId('register-version').click();
    await dialog.getByTestId('register-onnx').setInputFiles(referenceFile);
    await dialog.getByTestId('confirm').click();
    await poll(() => dialog.getByRole('alert').textContent()).toMatch(/not an ONNX model/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    // That refusal is the one 400 the browser logged here.
    expect(browserErrors.filter((e) => /status of 400/.test(e))).toHaveLength(1);
    browserErrors.splice(
      browserErrors.findIndex((e) => /status of 400/.test(e)),
      1,
    );
    expect(await a11y(page)).toEqual([]);
  });

  it('left no errors in the browser console (CSP violations included)', () => {
    expect(browserErrors.filter((e) => !/status of 40[134]/.test(e))).toEqual([]);
  });
});

describe('console with 1,000 models and 100,000 predictions', () => {
  it('renders a page at a time: 25 models, 50 predictions, and pages on by cursor', async () => {
    const s = await startTestServer({ listen: true });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      await s.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
      await s.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
      const k = s.ctx.db.kysely;
      const at = new Date().toISOString();
      // Volume written straight to the tables: registering 1,000 models one by one would test the registry, not the page.
      for (let i = 0; i < 1000; i += 250) {
        await k
          .insertInto('models')
          .values(Array.from({ length: 250 }, (_, j) => ({ name: `m-${String(i + j).padStart(4, '0')}`, description: null, created_at: at })))
          .execute();
      }
      const start = Date.now() - 3_600_000;
      for (let i = 0; i < 100_000; i += 2000) {
        await k
          .insertInto('predictions')
          .values(
            Array.from({ length: 2000 }, (_, j) => {
              const n = i + j;
              return {
                id: `p-${String(n).padStart(6, '0')}`,
                at: new Date(start + n * 30).toISOString(),
                model: 'hotel',
                version: 1,
                // One in a thousand a shadow's record: listed under its arm, left out of the decision counts.
                arm: n % 1000 === 500 ? 'shadow' : 'production',
                event_id: `e-${n}`,
                features: null,
                features_sha256: null,
                score: (n % 100) / 100,
                label: null,
                decision: n % 3 ? 'none' : 'act',
                latency_ms: 0.2,
                cached: 0,
                key_id: null,
              };
            }),
          )
          .execute();
      }
      // One outcome fed back, for the second prediction: the table shows it beside its decision.
      await k.insertInto('feedback').values({ prediction_id: 'p-000001', model: 'hotel', event_id: 'e-1', label: 1, value: null, actual_class: null, actual_value: null, at, key_id: null }).execute();
      const page = await browser.newPage();
      const apiCalls: string[] = [];
      page.on('request', (r) => r.url().includes('/v1/') && apiCalls.push(new URL(r.url()).pathname));
      await page.goto(`${s.url}/ui/`);
      await page.getByLabel('API key or admin token').fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const rows = page.locator('[data-testid=models-table] tbody tr');
      await poll(() => rows.count()).toBe(25);
      expect(await page.locator('.pager').textContent()).toContain('Page 1 of 41 (1001)');
      // Alert flags are asked for the rows shown only.
      await poll(() => apiCalls.filter((c) => c.endsWith('/history')).length).toBe(25);
      await page.getByRole('button', { name: 'Next' }).click();
      await poll(() => rows.first().textContent()).toContain('m-0024');

      await page.goto(`${s.url}/ui/#/decisions/hotel`);
      const predictions = page.locator('[data-testid=predictions-table] tbody tr');
      await poll(() => predictions.count()).toBe(50);
      // Newest first: what an operator looking into what just happened wants on the first page.
      expect(await predictions.first().textContent()).toContain('e-99999');
      await page.getByRole('button', { name: 'Next' }).click();
      await poll(() => predictions.first().textContent()).toContain('e-99949');
      await page.getByLabel('Order').selectOption('oldest');
      await page.getByRole('button', { name: 'Search' }).click();
      await poll(() => predictions.first().textContent()).toContain('e-0');
      expect(await page.locator('.pager').textContent()).toContain('Page 1');
      const outcomes = await page.locator('[data-testid=predictions-table] tbody tr td:nth-of-type(7)').allTextContents();
      expect(outcomes.slice(0, 3)).toEqual(['—', '1', '—']);
      await page.getByRole('button', { name: 'Next' }).click();
      await poll(() => predictions.first().textContent()).toContain('e-50');
      // Of the 33,334 "act" records (every third), 33 are a shadow's (n = 1500, 4500, … 97500).
      await poll(() => page.getByTestId('decision-distribution').textContent()).toMatch(/act33\.3% \(33301\)/);
      // In the order production's policy gives them (below the threshold, then above), not by name.
      expect(await page.locator('[data-testid=decision-distribution] .bar-label').allTextContents()).toEqual(['none', 'act']);
      expect(await page.locator('[data-testid=predictions-table] thead th').nth(4).textContent()).toBe('Score');
      await page.getByTestId('arm-filter').selectOption('shadow');
      await page.getByRole('button', { name: 'Search' }).click();
      // The event id cell alone: the row's text runs "e-50" into its score "0.5000".
      const firstEvent = () => predictions.first().locator('td:nth-of-type(4)').textContent();
      await poll(firstEvent).toBe('e-500');
      expect(await predictions.count()).toBe(50);
      expect(new Set(await page.locator('[data-testid=predictions-table] tbody tr td:nth-of-type(3)').allTextContents())).toEqual(new Set(['shadow']));
      await page.getByRole('button', { name: 'Next' }).click();
      await poll(firstEvent).toBe('e-50500');
      await poll(() => predictions.count()).toBe(50);
      await page.screenshot({ path: path.join(SHOTS, 'decisions-100k.png'), fullPage: true });
    } finally {
      await browser.close();
      await s.stop();
    }
  }, 180_000);
});

describe('console while the server restarts', () => {
  it('says it lost the connection, then recovers on its own when the server is back', async () => {
    const db = freshDb('sqlite');
    const dataDir = tempDir();
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(p));
      });
    });
    const start = () => startTestServer({ listen: true, db, dataDir, env: { PORT: String(port) } });
    let server = await start();
    await server.ctx.registry.register({ model: 'hotel', onnx: demo.onnx, actor: 't' });
    await server.ctx.registry.promote({ model: 'hotel', target: 'production', version: 1, actor: 't' });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      // The page's clock is the test's: its 5-second refresh comes when the test moves time on, not 5 s later.
      await page.clock.install();
      await page.goto(`${server.url}/ui/`);
      await page.getByLabel('API key or admin token').fill(TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      const table = page.locator('[data-testid=models-table]');
      await poll(() => table.textContent()).toContain('hotel');
      await server.stop();
      // The models page refreshes rollout state every 5 s: that request finds nobody there.
      await page.clock.fastForward(5_000);
      await poll(() => page.getByTestId('connection-lost').count()).toBe(1);
      await page.screenshot({ path: path.join(SHOTS, 'connection-lost.png') });
      server = await start();
      await page.clock.fastForward(5_000);
      await poll(() => page.getByTestId('connection-lost').count()).toBe(0);
      await poll(() => table.textContent()).toContain('hotel');
      expect(await page.getByTestId('who').textContent()).toMatch(/admin-token/);
    } finally {
      await browser.close();
      await server.stop();
      await dropDb(db);
    }
  });
});
