/**
 * Test support for the storage drivers: a throwaway PostgreSQL schema per test run, so that test files running
 * in parallel against one database never see each other's rows. Not exported from the package entry.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL URL tests run against, or undefined when none is configured. */
export function testDatabaseUrl(): string | undefined {
  const url = process.env.DATABASE_URL;
  return url === undefined || url === '' ? undefined : url;
}

/** A fresh schema name: `relay_test_` and 12 random hex digits. */
export function randomSchemaName(): string {
  return `relay_test_${randomBytes(6).toString('hex')}`;
}

/** Drops a schema made by {@link randomSchemaName}, with everything in it. */
export async function dropSchema(connectionString: string, schema: string): Promise<void> {
  if (!/^relay_test_[0-9a-f]{12}$/.test(schema))
    throw new Error('refusing to drop a schema not made by a test');
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}
