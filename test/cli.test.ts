import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { dropDb, freshDb, tempDir } from './helpers/db.js';
import { FIXTURES, demoModel } from './helpers/fixtures.js';

describe('modelgate CLI on SQLite and local files', () => {
  const dir = tempDir();
  const env = { MODELGATE_DATA_DIR: dir };
  const modelFile = path.join(dir, 'hotel.onnx');
  beforeAll(() => writeFileSync(modelFile, demoModel().onnx));

  it('register → models → promote → rollback, each with --json', async () => {
    const r1 = await runCli(['register', '--model', 'churn', '--onnx', path.join(FIXTURES, 'telco_churn.onnx'), '--policy', 'threshold=0.4:retain:ignore', '--json'], env);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.json()).toMatchObject({ model: 'churn', version: 1, policy: { type: 'threshold', threshold: 0.4, above: 'retain', below: 'ignore' } });
    const r2 = await runCli(['register', '--model', 'churn', '--onnx', path.join(FIXTURES, 'telco_churn.onnx'), '--json'], env);
    expect(r2.json().version).toBe(2);
    expect((await runCli(['promote', '--model', 'churn', '--version', '1', '--json'], env)).json()).toMatchObject({ alias: 'production', version: 1 });
    expect((await runCli(['promote', '--model', 'churn', '--version', '2', '--json'], env)).json()).toMatchObject({ version: 2, previous_version: 1, changed: true });
    // Production is 2 already: said so, without an undo hint for a move that was not made.
    expect((await runCli(['promote', '--model', 'churn', '--version', '2'], env)).stdout).toBe('churn: production is version 2 already; nothing changed\n');
    // A pipeline that read production at 1 does not undo the promotion to 2 made meanwhile.
    const stale = await runCli(['promote', '--model', 'churn', '--version', '1', '--from-version', '1', '--json'], env);
    expect(stale.code).toBe(1);
    expect(stale.json().error).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/^production of churn is version 2, not 1: it moved since; nothing promoted/) });
    const rb = await runCli(['rollback', '--model', 'churn', '--json'], env);
    expect(rb.json()).toMatchObject({ version: 1, rolled_back_from: 2 });
    const models = (await runCli(['models', '--json'], env)).json();
    expect(models).toMatchObject({ total: 1, models: [{ name: 'churn', latest_version: 2, aliases: { production: 1 }, production_engine: { engine: 'compiled' } }] });
    const one = (await runCli(['models', 'churn', '--json'], env)).json();
    expect(one.alias_history[0]).toMatchObject({ action: 'rollback', actor: 'cli:tester' });
    // Registration's smoke test recorded the engine each version serves on, and its memory.
    expect(one.versions[0].engine).toMatchObject({ engine: 'compiled', memory_bytes: expect.any(Number) });
    expect(one.versions[0].engine.memory_bytes).toBeGreaterThan(0);
    // Imported without metrics: no held-out figure to show.
    expect(one.versions[0].held_out).toBeNull();
    const text = await runCli(['models', 'churn'], env);
    // Production is back at 1, its first version: nothing to roll back to, so no arrow.
    expect(text.stdout).toMatch(/^aliases: production=1$/m);
    expect(text.stdout).not.toMatch(/^rollout:/m);
    expect(one).toMatchObject({ canary: null, shadow: null });
    expect(text.stdout).toMatch(/ENGINE +MEMORY/);
    // The memory column in a unit that suits it, the same amount as the JSON's bytes.
    // Version 1 decides as its policy (threshold=0.4:retain:ignore) says, below the threshold first.
    const shown = /\n1 +active +binary +production +ignore,retain +— +compiled +([0-9.]+) (B|KiB|MiB) /.exec(text.stdout);
    expect(shown, text.stdout).not.toBeNull();
    const bytes = Number(shown![1]) * { B: 1, KiB: 1024, MiB: 1048576 }[shown![2] as 'B' | 'KiB' | 'MiB'];
    expect(Math.abs(bytes - one.versions[0].engine.memory_bytes)).toBeLessThanOrEqual(Math.max(1, one.versions[0].engine.memory_bytes * 0.05));
  }, 240_000);

  it('slots: promote to green, activate it, roll the slot back', async () => {
    await runCli(['promote', '--model', 'churn', '--slot', 'green', '--version', '2'], env);
    // With the version checked in the slot: refused while the slot holds another.
    const stale = await runCli(['promote', '--model', 'churn', '--slot', 'green', '--activate', '--slot-version', '1'], env);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/slot green of churn holds version 2, not 1: it moved since; nothing activated/);
    const act = await runCli(['promote', '--model', 'churn', '--slot', 'green', '--activate', '--slot-version', '2', '--json'], env);
    expect(act.json()).toMatchObject({ alias: 'production', version: 2 });
    await runCli(['promote', '--model', 'churn', '--slot', 'green', '--version', '1'], env);
    expect((await runCli(['models', 'churn'], env)).stdout).toMatch(/^aliases: green=1 \(rollback → 2\) production=2 \(rollback → 1\)$/m);
    const back = await runCli(['rollback', '--model', 'churn', '--slot', 'green', '--json'], env);
    expect(back.json()).toMatchObject({ alias: 'green', version: 2, rolled_back_from: 1 });
    const arch = await runCli(['promote', '--model', 'churn', '--version', '2', '--to', 'archived', '--json'], env);
    expect(arch.code).toBe(1);
    expect(arch.json().error.code).toBe('CONFLICT');
    // Production's rollback target archived: shown, since the rollback is refused until it is active again.
    expect((await runCli(['promote', '--model', 'churn', '--version', '1', '--to', 'archived'], env)).stdout).toBe('churn version 1 is now archived\n');
    expect((await runCli(['promote', '--model', 'churn', '--version', '1', '--to', 'archived'], env)).stdout).toBe('churn version 1 is already archived; nothing changed\n');
    expect((await runCli(['models', 'churn'], env)).stdout).toMatch(/^aliases: green=2 production=2 \(rollback → 1, archived\)$/m);
    expect((await runCli(['promote', '--model', 'churn', '--version', '1', '--to', 'active'], env)).code).toBe(0);
  }, 240_000);

  it('canary start → set → status → stop, shadow, rollbacks, each with --json', async () => {
    await runCli(['promote', '--model', 'churn', '--version', '1'], env);
    const start = await runCli(['canary', 'start', '--model', 'churn', '--version', '2', '--steps', '10,50,100', '--step-interval', '5m', '--json'], env);
    expect(start.code, start.stderr).toBe(0);
    expect(start.json()).toMatchObject({ canary_version: 2, production_version: 1, canary_percent: 10, step: 1, step_interval: '5m' });
    // The same start again (a deploy job run twice) changes nothing and says so; naming a rule changes that rule.
    const same = await runCli(['canary', 'start', '--model', 'churn', '--version', '2', '--steps', '10,50,100', '--step-interval', '5m'], env);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stdout.split('\n')[0]).toBe('canary v2 already running as asked: nothing changed');
    const stricter = await runCli(['canary', 'start', '--model', 'churn', '--version', '2', '--max-error-ratio', '1.2', '--json'], env);
    expect(stricter.code, stricter.stderr).toBe(0);
    expect(stricter.json()).toMatchObject({ canary_percent: 10, changed: { max_error_ratio: { from: 1.5, to: 1.2 } }, analysis: { max_error_ratio: 1.2 } });
    expect((await runCli(['canary', 'start', '--model', 'churn', '--version', '2', '--auto-promote'], env)).stdout.split('\n')[0]).toBe('canary v2 changed auto_promote off → on');
    expect((await runCli(['canary', 'set', '--model', 'churn', '--percent', '50', '--json'], env)).json()).toMatchObject({ canary_percent: 50 });
    const text = await runCli(['canary', 'status', '--model', 'churn'], env);
    expect(text.stdout).toMatch(/canary v2 at 50% against production v1 \(step 2\/3 of \[10, 50, 100\], every 5m, auto-promote\)/);
    expect(text.stdout).toMatch(/^rules: rolls back on error rate > 1\.2 × production's \(at least 1\.2 %\), p95 > 1\.3 × production's \(at least 1\.3 ms\)$/m);
    expect((await runCli(['canary', 'set', '--model', 'churn', '--percent', '30', '--json'], env)).json()).toMatchObject({ canary_percent: 30, step: 1 });
    expect((await runCli(['canary', 'status', '--model', 'churn'], env)).stdout).toMatch(
      /canary v2 at 30% against production v1 \(set by hand after step 1\/3, next 50% of \[10, 50, 100\], every 5m, auto-promote\)/,
    );
    // The model list says what runs beside production.
    expect((await runCli(['models'], env)).stdout).toMatch(/^churn +binary +2 +2 +production=1 green=2 +canary v2 at 30% +compiled /m);
    // So does the model's own page, which an operator opens before promoting.
    expect((await runCli(['models', 'churn'], env)).stdout).toMatch(/^rollout: canary v2 at 30% \(modelgate canary status --model churn\)$/m);
    expect((await runCli(['models', 'churn', '--json'], env)).json()).toMatchObject({ canary: { version: 2, percent: 30 }, shadow: null });
    const judgedAnother = await runCli(['canary', 'promote', '--model', 'churn', '--version', '1', '--json'], env);
    expect(judgedAnother.code).toBe(1);
    expect(judgedAnother.json().error).toMatchObject({ code: 'CONFLICT', message: 'the canary of churn is version 2, not 1: it was replaced since; nothing promoted' });
    const again = await runCli(['canary', 'start', '--model', 'churn', '--version', '1', '--percent', '5', '--json'], env);
    expect(again.code).toBe(1);
    expect(again.json().error.code).toBe('CONFLICT');
    expect((await runCli(['canary', 'set', '--model', 'churn', '--percent', '150'], env)).code).toBe(2);
    expect((await runCli(['canary', 'stop', '--model', 'churn', '--reason', 'latency alarm', '--json'], env)).json()).toMatchObject({ stopped: true, canary_version: 2, rolled_back_by: 'cli:tester' });
    // How it ended names who stopped it once: its words say "stopped by cli:tester" already.
    expect((await runCli(['canary', 'status', '--model', 'churn'], env)).stdout).toMatch(
      /^last canary: canary v2 stopped by cli:tester: latency alarm \(\d{4}-\d\d-\d\dT[\d:.]+Z\); modelgate canary history --model churn lists every step$/m,
    );
    const none = await runCli(['canary', 'promote', '--model', 'churn', '--json'], env);
    expect(none.code).toBe(1);
    expect(none.json().error.message).toMatch(/no canary running/);
    // Promoting a version production serves already (a runbook run twice) is done; one whose canary was stopped says so.
    expect((await runCli(['canary', 'promote', '--model', 'churn', '--version', '1'], env)).stdout).toBe('churn: production is v1 already (no canary running); nothing to promote\n');
    const stopped = await runCli(['canary', 'promote', '--model', 'churn', '--version', '2', '--json'], env);
    expect(stopped.code).toBe(1);
    expect(stopped.json().error.message).toBe(
      'churn has no canary running to promote; version 2 is not production (1), so its canary ended without a promotion: modelgate canary history --model churn says how',
    );
    expect((await runCli(['shadow', 'start', '--model', 'churn', '--version', '2', '--percent', '25', '--json'], env)).json().shadow).toMatchObject({ version: 2, percent: 25 });
    expect((await runCli(['models', '--json'], env)).json().models.find((m: { name: string }) => m.name === 'churn')).toMatchObject({ canary: null, shadow: { version: 2, percent: 25 } });
    expect((await runCli(['models', 'churn'], env)).stdout).toMatch(/^rollout: shadow v2 at 25% \(modelgate canary status --model churn\)$/m);
    const shadowStatus = (await runCli(['canary', 'status', '--model', 'churn'], env)).stdout;
    expect(shadowStatus).toMatch(/^shadow v2 at 25%: 0 compared with production v1 since \d{4}-\d\d-\d\dT[0-9:.]+Z, decision agreement -, mean \|Δscore\| -, 0 errors$/m);
    expect(shadowStatus).toMatch(/^shadow outcomes from feedback, on the same requests: production v1 0 labelled; shadow v2 0 labelled$/m);
    expect((await runCli(['shadow', 'stop', '--model', 'churn', '--json'], env)).json()).toMatchObject({ shadow: null, stopped: true });
    const noShadow = await runCli(['shadow', 'stop', '--model', 'churn'], env);
    expect({ code: noShadow.code, stdout: noShadow.stdout }).toEqual({ code: 0, stdout: 'churn: no shadow running; nothing to stop\n' });
    // The history, newest first, in words and with who did each.
    const history = await runCli(['canary', 'history', '--model', 'churn', '--limit', '4'], env);
    expect(history.code, history.stderr).toBe(0);
    expect(
      history.stdout
        .trimEnd()
        .split('\n')
        .map((l) =>
          l
            .replace(/^\S+\s+/, '')
            .trimEnd()
            .split(/ {2,}/),
        ),
    ).toEqual([
      ['WHAT', 'BY'],
      ['shadow v2 stopped', 'cli:tester'],
      ['shadow v2 started at 25%', 'cli:tester'],
      ['canary v2 stopped by cli:tester: latency alarm', 'cli:tester'],
      ['canary v2 set from 50% to 30%', 'cli:tester'],
    ]);
    const events = (await runCli(['canary', 'history', '--model', 'churn', '--json'], env)).json().events as { event: string }[];
    expect(events.map((e) => e.event)).toEqual(['shadow_stop', 'shadow_start', 'stop', 'percent', 'percent', 'change', 'change', 'start']);
    expect((await runCli(['canary', 'history', '--model', 'nope'], env)).code).toBe(1);
    const rb = (await runCli(['rollbacks', '--model', 'churn', '--json'], env)).json();
    expect(rb.rollbacks[0]).toMatchObject({ canary_version: 2, reason: 'stopped by cli:tester: latency alarm', rolled_back_by: 'cli:tester' });
  }, 240_000);

  it('register --if-changed keeps the latest version when the graph and settings are the same; without it the repeat is said', async () => {
    const onnx = path.join(FIXTURES, 'telco_churn.onnx');
    const args = ['register', '--model', 'repeat', '--onnx', onnx, '--policy', 'threshold=0.3', '--json'];
    expect((await runCli(args, env)).json()).toMatchObject({ version: 1, same_as: null });
    // A deploy job run twice: nothing new, the version to promote named.
    const kept = await runCli([...args, '--if-changed'], env);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.json()).toMatchObject({ model: 'repeat', version: 1, unchanged: true });
    expect((await runCli(['register', '--model', 'repeat', '--onnx', onnx, '--policy', 'threshold=0.3', '--if-changed'], env)).stdout).toBe(
      'repeat: unchanged; version 1 is this graph with these settings, nothing registered\nnext: modelgate promote --model repeat --version 1\n',
    );
    // The same graph with another policy is a change; the same again without the flag registers and says so.
    expect((await runCli(['register', '--model', 'repeat', '--onnx', onnx, '--policy', 'threshold=0.5', '--if-changed', '--json'], env)).json()).toMatchObject({ version: 2, same_as: null });
    const again = await runCli(['register', '--model', 'repeat', '--onnx', onnx, '--policy', 'threshold=0.5'], env);
    expect(again.stdout).toMatch(/^note: the same graph and settings as version 2, registered again \(--if-changed keeps version 2 instead\)$/m);
    expect(again.stdout).toMatch(/^registered repeat version 3$/m);
    // An archived latest version is not kept: it could not serve.
    expect((await runCli(['promote', '--model', 'repeat', '--version', '3', '--to', 'archived'], env)).code).toBe(0);
    expect((await runCli(['register', '--model', 'repeat', '--onnx', onnx, '--policy', 'threshold=0.5', '--if-changed', '--json'], env)).json()).toMatchObject({ version: 4 });
    expect((await runCli(['models', 'repeat', '--json'], env)).json().versions).toHaveLength(4);
  }, 240_000);

  it('a matrix model needs --feature-names', async () => {
    const bad = await runCli(['register', '--model', 'num', '--onnx', path.join(FIXTURES, 'telco_numeric.onnx')], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--feature-names/);
    const ok = await runCli(['register', '--model', 'num', '--onnx', path.join(FIXTURES, 'telco_numeric.onnx'), '--feature-names', 'SeniorCitizen,tenure,MonthlyCharges,TotalCharges', '--json'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json().contract.layout).toBe('matrix');
  });

  it('refuses a truncated ONNX file with a clear error and creates nothing', async () => {
    const trunc = path.join(dir, 'trunc.onnx');
    writeFileSync(trunc, demoModel().onnx.subarray(0, 300));
    const r = await runCli(['register', '--model', 'broken', '--onnx', trunc, '--json'], env);
    expect(r.code).toBe(2);
    expect(r.json().error.code).toBe('INVALID_MODEL');
    const missing = await runCli(['register', '--model', 'broken', '--onnx', path.join(dir, 'nope.onnx')], env);
    expect(missing.code).toBe(2);
    // In words, not Node's "ENOENT: no such file or directory, open …".
    expect(missing.stderr).toContain(`error: cannot read ${path.join(dir, 'nope.onnx')}: no such file; give the path of the ONNX file`);
    const directory = await runCli(['register', '--model', 'broken', '--onnx', dir], env);
    expect(directory.stderr).toContain(`error: cannot read ${dir}: it is a directory; give the path of the ONNX file`);
    expect((await runCli(['models', '--json'], env)).json().models.map((m: { name: string }) => m.name)).not.toContain('broken');
  });

  it('register warns when the new version takes inputs production does not: another model under this name? promote and canary start refuse it without --accept-new-inputs', async () => {
    expect((await runCli(['register', '--model', 'mixup', '--onnx', modelFile, '--promote'], env)).code).toBe(0);
    const wrong = await runCli(['register', '--model', 'mixup', '--onnx', path.join(FIXTURES, 'telco_churn.onnx')], env);
    expect(wrong.code, wrong.stderr).toBe(0);
    expect(wrong.stderr).toContain(
      "warning: version 2 takes none of production (version 1)'s features (its 19: SeniorCitizen, tenure, MonthlyCharges, TotalCharges, gender and 14 more): requests made for production (version 1) are refused (400) without gender, Partner, Dependents and 12 more; is mixup the model you meant? (promoting it, or a canary of it, needs --accept-new-inputs)\n",
    );
    // The same graph again: production's own inputs, nothing said.
    expect((await runCli(['register', '--model', 'mixup', '--onnx', modelFile], env)).stderr).not.toContain('warning');
    // Promoting it is refused, saying why and how to go on; production stays.
    const refused = await runCli(['promote', '--model', 'mixup', '--version', '2'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^error: version 2 of mixup takes none of version 1's features .*; production stays at version 1\. Is mixup the model you meant\? .* promote it with --accept-new-inputs/m,
    );
    expect((await runCli(['models', 'mixup', '--json'], env)).json().aliases).toEqual({ production: 1 });
    // So is a canary of it, the same way.
    const canary = await runCli(['canary', 'start', '--model', 'mixup', '--version', '2', '--percent', '10'], env);
    expect(canary.code).toBe(1);
    expect(canary.stderr).toMatch(/^error: version 2 of mixup takes none of version 1's features .*; no canary started\. .* start the canary with --accept-new-inputs/m);
    expect((await runCli(['canary', 'status', '--model', 'mixup', '--json'], env)).json().canary_version).toBeNull();
    const promoted = await runCli(['promote', '--model', 'mixup', '--version', '2', '--accept-new-inputs', '--json'], env);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect(promoted.json().warnings).toEqual([
      expect.stringMatching(/^production of mixup is now version 2, which takes none of version 1's features .* roll back \(modelgate rollback --model mixup\)$/),
    ]);
    // register --promote of the hotel graph over it now: registered, not promoted, and the promotion alone carries the flag.
    const back = await runCli(['register', '--model', 'mixup', '--onnx', modelFile, '--promote'], env);
    expect(back.code).toBe(1);
    expect(back.stderr).toMatch(
      /^error: mixup version 4 is registered, but not production: version 4 of mixup takes none of version 2's features .* The promotion alone, when ready: modelgate promote --model mixup --version 4 --accept-new-inputs$/m,
    );
    expect((await runCli(['models', 'mixup', '--json'], env)).json().aliases).toEqual({ production: 2 });
  }, 240_000);

  it('--onnx - registers the graph piped in (a pod with no copy of the file), as the file itself would be', async () => {
    const bytes = readFileSync(modelFile);
    const piped = await runCli(['register', '--model', 'piped', '--onnx', '-', '--json'], env, { stdin: bytes });
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).toContain(`registering the graph from stdin (${bytes.length} bytes) as piped`);
    // The same graph as a file: the same content address, so the very bytes came through.
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(piped.json()).toMatchObject({ model: 'piped', version: 1, onnx_sha256: sha });
    // The manifest may come that way instead.
    const described = await runCli(['register', '--model', 'piped', '--onnx', modelFile, '--manifest', '-', '--json'], env, { stdin: JSON.stringify({ description: 'from a pipe' }) });
    expect(described.code, described.stderr).toBe(0);
    expect((await runCli(['models', 'piped', '--json'], env)).json().versions.map((v: { description: string | null }) => v.description)).toEqual([null, 'from a pipe']);
    // Nothing piped (stdin is /dev/null), or both from the one stdin: refused, saying what to do, and nothing registered.
    const empty = await runCli(['register', '--model', 'piped', '--onnx', '-'], env);
    expect([empty.code, empty.stderr]).toEqual([2, 'error: --onnx -: nothing came on stdin; pipe the ONNX file in (--onnx - < file), or give its path\n']);
    const both = await runCli(['register', '--model', 'piped', '--onnx', '-', '--manifest', '-'], env, { stdin: bytes });
    expect([both.code, both.stderr]).toEqual([2, 'error: only one of --onnx and --manifest can be piped in (-): give the manifest as a file\n']);
    expect((await runCli(['models', 'piped', '--json'], env)).json().versions).toHaveLength(2);
  });

  it("models NAME shows each version's own description, and the production version's in its headline", async () => {
    const manifest = path.join(dir, 'described.json');
    for (const description of ['gbdt trained on march.csv', 'logreg trained on april.csv']) {
      writeFileSync(manifest, JSON.stringify({ description }));
      expect((await runCli(['register', '--model', 'described', '--onnx', modelFile, '--manifest', manifest], env)).code).toBe(0);
    }
    // A third version without one.
    expect((await runCli(['register', '--model', 'described', '--onnx', modelFile], env)).code).toBe(0);
    expect((await runCli(['promote', '--model', 'described', '--version', '2'], env)).code).toBe(0);
    const one = (await runCli(['models', 'described', '--json'], env)).json();
    expect(one.description).toBe('gbdt trained on march.csv');
    expect(one.versions.map((v: { description: string | null }) => v.description)).toEqual(['gbdt trained on march.csv', 'logreg trained on april.csv', null]);
    const text = (await runCli(['models', 'described'], env)).stdout;
    expect(text.split('\n')[0]).toBe('described — production v2: logreg trained on april.csv');
    expect(text).toMatch(/\n {2}v1 {2}gbdt trained on march\.csv\n {2}v2 {2}logreg trained on april\.csv\n {2}v3 {2}\(no description\)/);
  });

  it('promote and rollback by training run id; a running canary refuses other promotions unless --force', async () => {
    const manifest = path.join(dir, 'run.json');
    for (const run of ['run-a', 'run-b']) {
      writeFileSync(manifest, JSON.stringify({ run_id: run }));
      expect((await runCli(['register', '--model', 'runs', '--onnx', modelFile, '--manifest', manifest], env)).code).toBe(0);
    }
    const blue = await runCli(['promote', '--model', 'runs', '--run-id', 'run-b', '--slot', 'blue', '--json'], env);
    expect(blue.json()).toMatchObject({ alias: 'blue', version: 2 });
    expect((await runCli(['promote', '--model', 'runs', '--run-id', 'run-b', '--json'], env)).json()).toMatchObject({ alias: 'production', version: 2 });
    expect((await runCli(['promote', '--model', 'runs', '--run-id', 'run-a', '--json'], env)).json()).toMatchObject({ alias: 'production', version: 1, previous_version: 2 });
    const unknown = await runCli(['promote', '--model', 'runs', '--run-id', 'run-z', '--json'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.json().error.message).toMatch(/no version of runs was registered from training run run-z/);
    expect((await runCli(['models', 'runs', '--json'], env)).json().versions.map((v: { run_id: string }) => v.run_id)).toEqual(['run-a', 'run-b']);

    expect((await runCli(['canary', 'start', '--model', 'runs', '--version', '2', '--percent', '20'], env)).code).toBe(0);
    const refused = await runCli(['rollback', '--model', 'runs', '--json'], env);
    expect(refused.code).toBe(1);
    expect(refused.json().error.code).toBe('CANARY_RUNNING');
    const forced = await runCli(['rollback', '--model', 'runs', '--force', '--reason', 'freeze', '--json'], env);
    expect(forced.code, forced.stderr).toBe(0);
    const rb = (await runCli(['rollbacks', '--model', 'runs', '--json'], env)).json();
    expect(rb).toMatchObject({ total: 1, rollbacks: [{ canary_version: 2, rolled_back_by: 'cli:tester' }] });
    expect(rb.rollbacks[0].reason).toBe('stopped by cli:tester (forced) to roll production back to version 2: freeze');
    // Rolling back names the version expected to be there now, by run id; a mismatch changes nothing.
    const wrong = await runCli(['rollback', '--model', 'runs', '--run-id', 'run-a', '--json'], env);
    expect(wrong.code).toBe(1);
    expect(wrong.json().error.message).toMatch(/production of runs is version 2, not 1/);
  }, 240_000);

  it('backup and restore through the CLI: a new data directory verifies and has the same aliases', async () => {
    expect((await runCli(['register', '--model', 'saved', '--onnx', modelFile], env)).code).toBe(0);
    expect((await runCli(['promote', '--model', 'saved', '--version', '1'], env)).code).toBe(0);
    const archive = path.join(dir, 'backups', 'mg.tar');
    const b = await runCli(['backup', '--out', archive, '--json'], env);
    expect(b.code, b.stderr).toBe(0);
    expect(b.json()).toMatchObject({ file: archive, tables: { models: expect.any(Number) } });
    expect(b.stderr).toMatch(/model_versions: \d+ rows/);
    const other = { MODELGATE_DATA_DIR: tempDir() };
    const r = await runCli(['restore', archive, '--json'], other);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().tables.models).toBe(b.json().tables.models);
    expect((await runCli(['verify', '--json'], other)).json()).toMatchObject({ failed: 0 });
    expect((await runCli(['models', 'saved', '--json'], other)).json().aliases).toEqual({ production: 1 });
    // No server has loaded the restored versions here yet, so no engine is on record: the list says so.
    const listed = (await runCli(['models'], other)).stdout.split('\n').find((l) => l.startsWith('saved '));
    expect(listed).toMatch(/ production=1 +not loaded yet /);
    const again = await runCli(['restore', archive], other);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already has \d+ model\(s\).*--force/);
  }, 240_000);

  it('register says when the new version decides other things than production, with the policy set that decides like it', async () => {
    const fixture = path.join(FIXTURES, 'telco_churn.onnx');
    expect((await runCli(['register', '--model', 'decides', '--onnx', fixture, '--policy', 'threshold=0.4:retain:ignore'], env)).code).toBe(0);
    expect((await runCli(['promote', '--model', 'decides', '--version', '1'], env)).code).toBe(0);
    const unlike = await runCli(['register', '--model', 'decides', '--onnx', fixture], env);
    expect(unlike.code, unlike.stderr).toBe(0);
    expect(unlike.stderr).toContain(
      'warning: version 2 decides none, act and production (version 1) ignore, retain: a canary of it would answer its share of clients with decisions production never gives; a version of it that decides like production: modelgate policy set --model decides --version 2 --policy threshold=0.4:retain:ignore',
    );
    // Another threshold, the same decisions: nothing to say.
    const alike = await runCli(['register', '--model', 'decides', '--onnx', fixture, '--policy', 'threshold=0.6:retain:ignore'], env);
    expect(alike.code, alike.stderr).toBe(0);
    expect(alike.stderr).not.toMatch(/warning/);
    // Promoted anyway: allowed (a policy change rolls out so), and said, with the way back.
    const promoted = await runCli(['promote', '--model', 'decides', '--version', '2', '--json'], env);
    expect(promoted.code, promoted.stderr).toBe(0);
    const warning =
      'production of decides now decides none, act (version 2) where version 1 decided ignore, retain: its clients get decisions they were never given; if that was not meant, roll back (modelgate rollback --model decides)';
    expect(promoted.json().warnings).toEqual([warning]);
    expect(promoted.stderr).toContain(`warning: ${warning}`);
  });

  it('register --promote registers and promotes in one step, says what the promotion says, and names a registered version a canary keeps from production', async () => {
    const fixture = path.join(FIXTURES, 'telco_churn.onnx');
    const first = await runCli(['register', '--model', 'onestep', '--onnx', fixture, '--policy', 'threshold=0.4:retain:ignore', '--promote', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json()).toMatchObject({ version: 1, promoted: true, warnings: [] });
    expect((await runCli(['models', 'onestep', '--json'], env)).json().aliases).toEqual({ production: 1 });
    // Another policy: production's clients now get none/act, said as promote says it, and listed in --json.
    const second = await runCli(['register', '--model', 'onestep', '--onnx', fixture, '--promote', '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    const said =
      'production of onestep now decides none, act (version 2) where version 1 decided ignore, retain: its clients get decisions they were never given; if that was not meant, roll back (modelgate rollback --model onestep)';
    expect(second.json()).toMatchObject({ version: 2, promoted: true, warnings: [said] });
    expect(second.stderr).toContain(`warning: ${said}`);
    // The registration's own warning (a canary of it would…) is not said as well: the promotion's covers it.
    expect(second.stderr).not.toContain('a canary of it would');
    // Unchanged with --if-changed: the version it names is promoted (production is back at 1 after a rollback).
    expect((await runCli(['rollback', '--model', 'onestep'], env)).code).toBe(0);
    const again = await runCli(['register', '--model', 'onestep', '--onnx', fixture, '--if-changed', '--promote'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(
      'onestep: unchanged; version 2 is this graph with these settings, nothing registered\nonestep version 2 is production (undo with modelgate rollback --model onestep)',
    );
    expect((await runCli(['models', 'onestep', '--json'], env)).json().aliases).toEqual({ production: 2 });
    // A canary keeps production where it is: the version is registered, and the error says so.
    expect((await runCli(['canary', 'start', '--model', 'onestep', '--version', '1', '--percent', '10'], env)).code).toBe(0);
    const blocked = await runCli(['register', '--model', 'onestep', '--onnx', fixture, '--policy', 'threshold=0.7', '--promote'], env);
    expect(blocked.code).not.toBe(0);
    expect(blocked.stderr).toMatch(
      /^error: onestep version 3 is registered, but not production: cannot promote version 3 to production: a canary of onestep is running.* The promotion alone, when ready: modelgate promote --model onestep --version 3$/m,
    );
    const after = (await runCli(['models', 'onestep', '--json'], env)).json();
    expect(after.versions).toHaveLength(3);
    expect(after.aliases).toEqual({ production: 2 });
    expect((await runCli(['canary', 'stop', '--model', 'onestep'], env)).code).toBe(0);
  });
});

describe('modelgate migrate on PostgreSQL', () => {
  const loc = freshDb('postgres');
  afterAll(() => dropDb(loc));
  beforeAll(async () => {
    // The schema must exist before a search_path can point at it.
    const { openDb } = await import('../src/db/index.js');
    await (await openDb(loc)).close();
  });

  it('applies migrations once, then reports up to date', async () => {
    if (loc.kind !== 'postgres') throw new Error('unreachable');
    const env = { DATABASE_URL: `${loc.url}?options=-c%20search_path%3D${loc.schema}`, MODELGATE_DATA_DIR: tempDir() };
    const first = await runCli(['migrate', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json()).toMatchObject({
      applied: [
        '001_registry',
        '002_rollouts',
        '003_access',
        '004_audit',
        '005_feedback',
        '006_monitoring',
        '007_webhooks',
        '008_audit_write_cost',
        '009_audit_narrow_indexes',
        '010_arm_stats_cache_hits',
        '011_replaced_tokens',
        '012_task_outcomes',
        '013_arm_stats_score_sum',
        '014_retrain',
        '015_engine_checks',
        '016_feedback_orphans',
        '017_webhook_secret_rotation',
        '018_rollout_canary_revision',
        '019_retrain_one_running',
        '020_webhook_delivery_history',
        '021_webhook_orphan_dead_letters',
      ],
      pending: [],
    });
    const second = await runCli(['migrate', '--json'], env);
    expect(second.json()).toMatchObject({ applied: [], pending: [] });
  });
});
