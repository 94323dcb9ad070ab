/**
 * @overt/core — Overt's pure protocol: canonical encodings, ristretto255, threshold access capsules (TDH2),
 * distributed key generation, envelopes, franking and access-workflow types. No I/O; runs in browsers.
 */
export * from './bytes.js';
export * from './codec.js';
export * from './errors.js';
export * from './group.js';
export * from './hash.js';
export * from './sign.js';
export * from './threshold.js';
