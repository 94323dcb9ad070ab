/**
 * @overt/log — the browser-safe half of Overt's transparency log: RFC 6962 Merkle math and proofs, C2SP signed
 * notes, checkpoints, cosignatures, tiles and offline proofs, monitors and checkpoint gossip. No I/O: transports
 * and storage are passed in. The log's sequencer, storage and tile server live in `@overt/log/service`.
 *
 * API STABLE for the modules exported below.
 */
export * from './checkpoint.js';
export * from './cosignature.js';
export * from './entry.js';
export * from './errors.js';
export * from './freshness.js';
export * from './gossip.js';
export * from './memory-log.js';
export * from './merkle.js';
export * from './monitor.js';
export * from './note.js';
export * from './proof.js';
export * from './tiles.js';
