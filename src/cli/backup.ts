import type { Command } from 'commander';
import { createBackup, restoreBackup } from '../backup/index.js';
import { VERSION } from '../lib/version.js';
import { withContext } from './context.js';
import { assertOutputFile } from '../lib/user-paths.js';
import { emit, progress, type OutputOptions } from './output.js';

export function registerBackupCommands(program: Command): void {
  program
    .command('backup')
    .description(
      'Write one archive of the registry and its settings (models, versions, aliases and history, policies, keys as hashes, rollouts, webhook subscriptions, reports) and every artifact, each with its sha256',
    )
    .requiredOption('--out <file>', 'archive to write (a temporary name, renamed when complete)')
    .option('--include-audit', 'also the prediction log and feedback')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  modelgate backup --out backups/modelgate-$(date +%F).tar\n  modelgate backup --out full.tar --include-audit --json')
    .action(async (o: OutputOptions & { out: string; includeAudit?: boolean }) =>
      withContext(o, async (ctx) => {
        assertOutputFile(o.out, '--out', 'modelgate-backup.tar');
        progress(`backing up ${ctx.db.describe}${o.includeAudit ? ' with the audit log' : ''}…`);
        const r = await createBackup(ctx.db, ctx.artifacts, { out: o.out, includeAudit: o.includeAudit, version: VERSION, onProgress: progress, now: () => ctx.clock.now() });
        emit(
          o,
          r,
          () =>
            `wrote ${r.file} (${r.bytes} bytes): ${Object.entries(r.tables)
              .map(([t, n]) => `${t} ${n}`)
              .join(', ')}; ${r.artifacts} artifacts`,
        );
      }),
    );

  program
    .command('restore <file>')
    .description('Restore an archive made by backup into an empty database (or --force to replace): every checksum and contract version is verified before anything is written')
    .option('--force', "replace the target's registry and settings (and audit log, when the archive has one)")
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  DATABASE_URL=postgres://… modelgate restore backups/modelgate-2026-12-01.tar\n  modelgate restore full.tar --force --json && modelgate verify')
    .action(async (file: string, o: OutputOptions & { force?: boolean }) =>
      withContext(o, async (ctx) => {
        const r = await restoreBackup(ctx.db, ctx.artifacts, file, { force: o.force, onProgress: progress });
        emit(
          o,
          r,
          () =>
            `restored ${r.file} (made ${r.created_at}) into ${ctx.db.describe}: ${Object.entries(r.tables)
              .map(([t, n]) => `${t} ${n}`)
              .join(', ')}; ${r.artifacts} artifacts\nnext: modelgate verify`,
        );
      }),
    );
}
