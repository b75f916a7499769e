import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A CommonJS package loaded on its first use rather than at import: a CLI command that never
 * talks to Redis, S3, PostgreSQL or onnxruntime does not pay for loading them (together about
 * half a second of every command's start on a small machine). Type it with a type-only import;
 * `init` runs once, on the first load (a package's global settings).
 */
export function lazyRequire<T>(id: string, init?: (m: T) => void): () => T {
  let loaded: T | undefined;
  return () => {
    if (loaded === undefined) {
      loaded = require(id) as T;
      init?.(loaded);
    }
    return loaded;
  };
}
