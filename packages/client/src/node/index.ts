/**
 * `@overt/client/node`: the parts of the SDK that need Node (the file-backed store). The package entry stays
 * browser-safe; this entry is built by tsconfig.node.json with Node's types.
 */
export { FileStore } from './file-store.js';
