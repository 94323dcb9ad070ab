/**
 * Access-workflow objects (DESIGN §3–§5): the signed policy, requests with their confidential commitment,
 * trustee decisions, and warrant scope. Each has a canonical versioned encoding, a signature, and a
 * verified type that only its verify function produces.
 */
export * from './access-seal.js';
export * from './decision.js';
export * from './entries.js';
export * from './execution.js';
export * from './extension.js';
export * from './overdue.js';
export * from './policy.js';
export * from './refusal.js';
export * from './release.js';
export * from './request.js';
export * from './scope.js';
export * from './shred.js';
export * from './signed.js';
export * from './unseal.js';
