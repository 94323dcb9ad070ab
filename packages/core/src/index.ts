/**
 * @overt/core — Overt's pure protocol: canonical encodings, ristretto255, threshold access capsules (TDH2),
 * distributed key generation, envelopes, franking and access-workflow types. No I/O; runs in browsers.
 */

export * from './aead/index.js';
export * from './bytes.js';
export * from './capsule/index.js';
export * from './codec.js';
export * from './directory/index.js';
export * from './dkg/index.js';
export * from './envelope/index.js';
export * from './errors.js';
export * from './franking/index.js';
export * from './group.js';
export * from './hash.js';
export * from './ids.js';
export * from './map/index.js';
export * from './pwhash.js';
export * from './sign.js';
export * from './threshold.js';
export * from './vrf/index.js';
export * from './workflow/index.js';
export * from './x25519.js';
