/**
 * Test support for the storage drivers: a throwaway PostgreSQL schema per test run, so that test files running
 * in parallel against one database never see each other's rows. The log service owns the helpers; the relay's
 * tests use the same ones. Not exported from the package entry.
 */
export { dropSchema, randomSchemaName, testDatabaseUrl } from '@overt/log/service';
