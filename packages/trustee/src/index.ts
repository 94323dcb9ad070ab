/**
 * @overt/trustee: the trustee daemon (docs/spec/access.md). A trustee is its own party: its own process, data
 * directory, keys and HTTP API. It holds one share of each epoch's escrow key in an encrypted vault, runs the key
 * ceremonies with the other trustees over the relay as an untrusted mailbox, reviews requests, and releases
 * partial decryptions only under the release rule.
 */
export * from './access/index.js';
export * from './api.js';
export * from './ceremony/engine.js';
export * from './ceremony/mail.js';
export * from './ceremony/memory.js';
export * from './ceremony/relay-transport.js';
export * from './daemon.js';
export * from './errors.js';
export * from './monitor.js';
export * from './shred.js';
export * from './vault.js';
export type { EpochShare, ShareVault } from './vault-api.js';
