import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/program.js';
import { REPO_ROOT } from './helpers/fixtures.js';

/** The documents a user copies commands from. */
const DOCS = [
  'README.md',
  'CONTRIBUTING.md',
  ...readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

interface Use {
  doc: string;
  line: number;
  command: string;
  flags: string[];
}

/**
 * Every `modelgate <command> … --flag` the documents show, resolved against the CLI's own
 * commands: words after "modelgate" that name a command (and subcommands) lead to it, then each
 * --flag up to the end of the code span or line. Prose ("modelgate serves …") names no command.
 */
function usesIn(doc: string, markdown: string, program: Command): Use[] {
  const uses: Use[] = [];
  markdown.split('\n').forEach((text, i) => {
    // A table cell's escaped bar (`--version V \| --alias A`) separates alternatives, not cells.
    for (const m of text.replaceAll('\\|', ' ').matchAll(/\bmodelgate((?:\s+[^\s`|;&#)]+)+)/g)) {
      const words = m[1].trim().split(/\s+/);
      let cmd: Command | undefined;
      let at = 0;
      for (let next = program.commands.find((c) => c.name() === words[0]); next; next = cmd.commands.find((c) => c.name() === words[at])) {
        cmd = next;
        at++;
      }
      // In a message's template, `modelgate ratelimit ${name} --key` leaves the subcommand to the code.
      if (!cmd || (words[at]?.startsWith('${') && cmd.commands.length > 0)) continue;
      const flags = words
        .slice(at)
        .map((w) => /^[[(]?(--[a-z][a-z0-9-]*)/.exec(w)?.[1])
        .filter((f): f is string => f !== undefined);
      const names: string[] = [];
      for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
      uses.push({ doc, line: i + 1, command: names.slice(1).join(' '), flags });
    }
  });
  return uses;
}

/** Each shown flag the command lacks, as "doc:line: modelgate command --flag". */
function unknownFlags(docs: { doc: string; markdown: string }[], program: Command): { uses: Use[]; unknown: string[] } {
  const byName = new Map<string, Command>();
  const walk = (c: Command, prefix: string) => {
    for (const sub of c.commands) {
      const name = `${prefix}${sub.name()}`;
      byName.set(name, sub);
      walk(sub, `${name} `);
    }
  };
  walk(program, '');
  const uses = docs.flatMap((d) => usesIn(d.doc, d.markdown, program));
  const unknown = uses.flatMap((u) => {
    const longs = new Set(['--help', '--json', ...byName.get(u.command)!.options.map((o) => o.long)]);
    return u.flags.filter((f) => !longs.has(f)).map((f) => `${u.doc}:${u.line}: modelgate ${u.command} ${f}`);
  });
  return { uses, unknown };
}

describe('the commands the documents show', () => {
  const program = buildProgram();

  it('name commands and flags the CLI has (a renamed flag left in a runbook fails here)', () => {
    const { uses, unknown } = unknownFlags(
      DOCS.map((doc) => ({ doc, markdown: readFileSync(path.join(REPO_ROOT, doc), 'utf8') })),
      program,
    );
    // The check reads the documents at all: the README alone shows dozens of commands.
    expect(uses.filter((u) => u.doc === 'README.md').length).toBeGreaterThan(50);
    expect(uses).toContainEqual(expect.objectContaining({ command: 'feedback import', flags: expect.arrayContaining(['--event-id', '--label']) }));
    expect(unknown).toEqual([]);
  });

  it("and so do the program's own messages: every modelgate command an error, warning or hint tells a user to run", () => {
    const sources = (dir: string): string[] =>
      readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sources(`${dir}/${e.name}`) : /\.tsx?$/.test(e.name) && !e.name.endsWith('.test.ts') ? [`${dir}/${e.name}`] : [],
      );
    const files = [...sources('src'), ...sources('ui/src')];
    const { uses, unknown } = unknownFlags(
      // A string's \n ends a command as the printed line will (a ; stops one here, and keeps the line numbers).
      files.map((doc) => ({ doc, markdown: readFileSync(path.join(REPO_ROOT, doc), 'utf8').replaceAll('\\n', ';') })),
      program,
    );
    // The messages name commands in many places: the check finds them.
    expect(uses.length).toBeGreaterThan(100);
    expect(uses).toContainEqual(expect.objectContaining({ command: 'canary stop', flags: ['--model'] }));
    expect(unknown).toEqual([]);
  });

  it('finds a flag the command lacks, in a code block, a table and a code span; prose names no command', () => {
    const markdown = [
      '```sh',
      'npx modelgate score --model churn --file customers.csv --out scored.csv',
      '```',
      '| `modelgate canary start --model M [--version V \\| --percnt P] [--steps 10,50]` | starts a canary |',
      'Run `modelgate webhooks add --url https://x --event rollout.started` once; modelgate serves --everything.',
    ].join('\n');
    expect(unknownFlags([{ doc: 'test.md', markdown }], program).unknown).toEqual([
      'test.md:2: modelgate score --file',
      'test.md:4: modelgate canary start --percnt',
      'test.md:5: modelgate webhooks add --event',
    ]);
  });
});
