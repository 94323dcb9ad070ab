/**
 * @overt/client — Overt's client SDK for Node and the browser. Browser-safe: no `node:` imports, Uint8Array only.
 * So far: typed errors and the MLS layer (conversations as RFC 9420 groups of devices).
 */
export * from './errors.js';
export * from './mls/index.js';
