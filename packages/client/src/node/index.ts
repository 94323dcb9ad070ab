/**
 * `@overt/client/node`: the parts of the SDK that need Node (the file-backed store). The package entry stays
 * browser-safe; this entry is built by tsconfig.node.json with Node's types.
 */

export {
  readEvidence,
  verifyEvidenceAt,
  writeEvidenceArchive,
  writeEvidenceDirectory,
} from './evidence-write.js';
export { FileStore } from './file-store.js';
export { lockStoreDir, STORE_LOCK_FILE, STORE_LOCK_WAIT_MS } from './store-lock.js';
