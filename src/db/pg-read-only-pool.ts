import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { PG_READ_ONLY } from './unavailable.js';

/**
 * The pool as Kysely sees it, closing any connection a server refused a write on instead of
 * keeping it. After a failover the old primary can come back as a standby, and a cluster
 * endpoint's DNS can name it for a while: connections opened then refuse every write for as
 * long as they live, and a busy pool keeps them for ever (they are never idle long enough to
 * time out). Closed, each is replaced by a new connection, looked up afresh, that reaches the
 * primary once it is back. Kysely releases a connection without saying whether its queries
 * failed, so each query's outcome is watched here and the release says it.
 */
export function closingReadOnlyConnections(pool: pg.Pool): PostgresPool {
  const watched = new WeakSet<pg.PoolClient>();
  const refused = new WeakSet<pg.PoolClient>();
  const watch = (client: pg.PoolClient) => {
    if (watched.has(client)) return;
    watched.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const result = query(...args);
      // A promise for a statement; a cursor (reads only) is returned as it is.
      if (result instanceof Promise)
        result.catch((e: unknown) => {
          if ((e as { code?: unknown } | undefined)?.code === PG_READ_ONLY) refused.add(client);
        });
      return result;
    };
  };
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      watch(client);
      // pg-pool gives each checkout its own release: wrap this one.
      const release = client.release.bind(client);
      client.release = (err?: Error | boolean) => release(err ?? (refused.has(client) ? new Error(`the server refused a write (${PG_READ_ONLY}): a standby`) : undefined));
      return client as unknown as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
}
