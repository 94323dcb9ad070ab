/**
 * @overt/server — Overt's relay: the directory with key transparency, the MLS delivery service, the envelope and
 * blob store with ingest checks, the HTTP + WebSocket API, and storage drivers for SQLite and PostgreSQL
 * (docs/spec/relay.md).
 */
export * from './auth.js';
export * from './epochs.js';
export * from './errors.js';
export * from './franking.js';
export { buildApp, DEFAULT_BODY_LIMIT, DEFAULT_RATE_LIMITS, type RateLimits } from './http/app.js';
export { isReservedPath, StaticSite, WEB_CSP } from './http/static.js';
export * from './hub.js';
export * from './log-port.js';
export * from './mls-framing.js';
export * from './rate-limit.js';
export * from './relay.js';
export * from './request-log.js';
export * from './service.js';
export * from './statements.js';
export * from './storage/postgres.js';
export * from './storage/sqlite.js';
export * from './storage/storage.js';
