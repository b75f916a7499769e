import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';

/**
 * A plan's local data that this process cannot read: said, not refused. The plan reads it on the
 * monitor's leader, maybe days later and on another machine (another replica, with other files).
 */
export async function planDataWarning(data: string): Promise<string | undefined> {
  if (data.startsWith('s3://')) return undefined;
  const readable = await access(data, constants.R_OK)
    .then(async () => (await stat(data)).isFile())
    .catch(() => false);
  return readable ? undefined : `${data} is not a file this machine can read; the plan reads it on the server when it runs, so it must be there then (or give s3://bucket/key)`;
}
