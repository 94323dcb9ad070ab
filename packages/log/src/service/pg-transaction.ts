/**
 * One PostgreSQL transaction on a pooled connection, shared by the log's and the relay's PostgreSQL drivers: BEGIN,
 * the work, COMMIT; on any failure ROLLBACK. A connection whose ROLLBACK fails is in an unknown state and is
 * destroyed rather than returned to the pool. Errors the work raises on purpose (`isOwn`) pass through; anything
 * else (the driver's, the server's) is wrapped by `wrap` into the caller's storage error.
 */
import type pg from 'pg';

export async function pgTransaction<T>(
  pool: pg.Pool,
  what: string,
  fn: (c: pg.PoolClient) => Promise<T>,
  errors: { readonly isOwn: (e: unknown) => boolean; readonly wrap: (what: string, e: unknown) => Error },
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw errors.wrap(`${what} (connect)`, e);
  }
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    if (errors.isOwn(e)) throw e;
    throw errors.wrap(what, e);
  } finally {
    client.release(broken);
  }
}
