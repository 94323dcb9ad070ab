/**
 * Envelopes (DESIGN §3): header ‖ access capsule ‖ ciphertext, one format for every payload kind. Header
 * codec and label, chunk geometry and ciphertext digest, seal, recipient open, relay ingest
 * (docs/spec/envelope.md).
 */
export { ChunkGeometry, CiphertextDigest, ciphertextDigest, TAG_CIPHERTEXT_DIGEST } from './chunks.js';
export * from './envelope.js';
export {
  CONVERSATION_ID_MAX,
  DEVICE_ID_MAX,
  isIdString,
  isPrintable,
  MESSAGE_ID_BYTES,
  ORG_ID_MAX,
  USER_ID_MAX,
} from './fields.js';
export * from './header.js';
export * from './ingest.js';
export * from './open.js';
export * from './seal.js';
export * from './signature.js';
