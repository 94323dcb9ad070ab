/**
 * The key-committing, chunked AEAD used by envelopes: AES-256-GCM back-ends, the HKDF key schedule with its
 * key commitment, and the STREAM chunk construction (docs/spec/envelope.md §4–§5).
 */
export * from './backend.js';
export * from './keys.js';
export * from './stream.js';
