import { rmSync } from 'node:fs';

/**
 * Partial outputs a CLI command removes when it is interrupted (Ctrl-C, SIGTERM) before it
 * publishes them: a scored file's or a backup's temporary name would otherwise stay behind,
 * as large as what was written. Only the CLI enables it (withContext); a server keeps its own
 * graceful SIGTERM, so there registering a path does nothing.
 */
let enabled = false;
const paths = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

function onSignal(signal: NodeJS.Signals): void {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
  process.stderr.write(`${signal}: stopped; the partial output was removed\n`);
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

export function enableInterruptCleanup(): void {
  enabled = true;
}

/** Remove path (a file or directory) if the process is interrupted before the returned function is called. */
export function removeIfInterrupted(path: string): () => void {
  if (!enabled) return () => undefined;
  // Listening only while there is something to remove: otherwise a signal keeps its default (or a command's own handler).
  if (paths.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  paths.add(path);
  return () => {
    if (paths.delete(path) && paths.size === 0) for (const s of SIGNALS) process.off(s, onSignal);
  };
}
