import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { AppError } from './errors.js';

/**
 * A file a user named to be read (--data, --file, --reference): BAD_REQUEST with the reason in
 * words and `hint`, instead of Node's "EISDIR: illegal operation on a directory, read" as an
 * internal error from deep inside a command.
 */
export function assertInputFile(file: string, hint: string): void {
  let why: string;
  try {
    accessSync(file, constants.R_OK);
    const s = statSync(file);
    if (s.isFile() || s.isFIFO() || s.isCharacterDevice()) return; // a pipe or /dev/stdin streams as well as a file
    why = s.isDirectory() ? 'it is a directory' : 'not a file';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOTDIR' ? 'a part of the path is a file, not a directory' : String(code ?? e);
  }
  throw new AppError('BAD_REQUEST', `cannot read ${file}: ${why}; ${hint}`);
}

/**
 * A local file a command will write (--out): refused before any work when it cannot be, instead
 * of after the scoring or the report, when the rename into place fails. `example` is a file
 * name to suggest inside a directory given by mistake.
 */
export function assertOutputFile(file: string, flag: string, example: string): void {
  const refuse = (why: string) => {
    throw new AppError('BAD_REQUEST', `${flag} ${file}: ${why}`);
  };
  const target = statOrUndefined(file);
  if (target?.isDirectory()) refuse(`it is a directory; give the path of a file, such as ${path.join(file, example)}`);
  // The nearest directory that exists: the rest of the path is created.
  let dir = path.dirname(path.resolve(file));
  let s = statOrUndefined(dir);
  while (!s && path.dirname(dir) !== dir) {
    dir = path.dirname(dir);
    s = statOrUndefined(dir);
  }
  if (s && !s.isDirectory()) refuse(`${dir} is a file, not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    refuse(`cannot write in ${dir} (permission denied); give a path in a directory this user can write to`);
  }
}

function statOrUndefined(p: string) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}
