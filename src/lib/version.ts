import { readFileSync } from 'node:fs';

/** modelgate's version, from package.json (beside src/ and dist/ alike, and in the image). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
