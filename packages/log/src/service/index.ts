/**
 * @overt/log/service — the log's Node half: storage drivers (SQLite, PostgreSQL), the sequencer with group
 * commit and witnessing, and the C2SP tlog-tiles HTTP server. docs/spec/log-service.md specifies it.
 */

export * from './http.js';
export * from './integrate.js';
export * from './pg-transaction.js';
export * from './postgres-storage.js';
export * from './sequencer.js';
export * from './sqlite-storage.js';
export * from './storage.js';
// Test support (a throwaway PostgreSQL schema per test run), shared by the log's and the relay's storage tests.
export { dropSchema, randomSchemaName, testDatabaseUrl } from './testing.js';
export * from './tile-reader.js';
export * from './witnessing.js';
