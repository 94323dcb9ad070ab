/**
 * @overt/witness — Overt's witness daemon (C2SP tlog-witness): checks that each checkpoint a log submits extends
 * the last one it cosigned, cosigns it (C2SP tlog-cosignature, Ed25519 type 0x04), and keeps its state in SQLite.
 * Also the client a log uses to obtain cosignatures.
 */
export * from './client.js';
export * from './daemon.js';
export * from './errors.js';
export * from './http.js';
export * from './keys.js';
export * from './request.js';
export * from './store.js';
export * from './witness.js';
