/**
 * `@overt/client/node`: the parts of the SDK that need Node (the file-backed store). The package entry stays
 * browser-safe; this entry is built by tsconfig.node.json with Node's types.
 */

export { PooledCaseCrypto } from './access-case-crypto.js';
export {
  ACCESS_JOB_MAX,
  type AccessPoolOptions,
  AccessWorkerPool,
  countOf,
  type ItemFailure,
  itemOf,
  type PackedBytes,
  pack,
  type RecoverJob,
  type RecoverOutput,
  type ReleaseJob,
  type ReleaseOutput,
} from './access-workers.js';
export {
  readEvidence,
  verifyEvidenceAt,
  writeEvidenceArchive,
  writeEvidenceDirectory,
} from './evidence-write.js';
export { FileStore } from './file-store.js';
export { type HttpFetchInit, type HttpFetchResponse, httpFetch } from './http-fetch.js';
export { nodeCryptoBackend } from './node-crypto-backend.js';
export { lockStoreDir, STORE_LOCK_FILE, STORE_LOCK_WAIT_MS } from './store-lock.js';
