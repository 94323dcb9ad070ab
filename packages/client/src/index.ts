/**
 * @overt/client — Overt's client SDK for Node and the browser. Browser-safe: no `node:` imports, Uint8Array only.
 * Typed errors, the MLS layer (conversations as RFC 9420 groups of devices), the relay transport (signed requests,
 * mailbox socket), the state-store interface, and `OvertClient` (send and receive with capsule checks).
 */
export * from './access/access-log.js';
export * from './access/case.js';
export * from './access/case-crypto.js';
export * from './access/evidence.js';
export * from './access/evidence-verify.js';
export * from './access/notices.js';
export * from './access/recorded.js';
export * from './access/relay-client.js';
export * from './access/requester.js';
export * from './access/stats.js';
export * from './errors.js';
export * from './log/anchors.js';
export * from './log/directory-log.js';
export * from './mls/index.js';
export * from './sdk/client.js';
export * from './sdk/content.js';
export * from './sdk/franking.js';
export * from './sdk/headers.js';
export * from './sdk/key-transparency.js';
export * from './sdk/notices-store.js';
export * from './sdk/seals.js';
export * from './sdk/shreds.js';
export * from './sdk/upload.js';
export * from './store/sealed.js';
export * from './store/store.js';
export * from './transport/mailbox-socket.js';
export * from './transport/relay-transport.js';
export * from './transport/signing.js';
