/**
 * Reading the RFC 9420 interop vectors (mlswg/mls-implementations, test-vectors/): file loading, hex, and the
 * small structures test-vectors.md asks verifiers to build.
 *
 * The vector files are public data and are not committed here: they are read from `$OVERT_MLS_VECTORS`, or
 * else from `mls/` of the shared vectors (`$OVERT_VECTORS`, or `../shared/vectors` beside the repository;
 * test/shared-vectors.ts).
 * Without them the vector suites are skipped, loudly.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex, toHex } from '@overt/core';
import { decodeMlsMessage, type GroupContext, type MLSMessage, type PrivateMessage } from 'ts-mls';
import { describe, expect } from 'vitest';
import { SHARED_VECTORS_DIR } from '../../../test/shared-vectors.js';
import { CIPHERSUITE_NAME } from '../src/mls/ciphersuite.js';

// biome-ignore lint/suspicious/noExplicitAny: vector files are untyped JSON, read field by field by the tests.
export type Json = any;

const candidates = [process.env.OVERT_MLS_VECTORS, join(SHARED_VECTORS_DIR, 'mls')].filter(
  (d): d is string => d !== undefined && d !== '',
);

/** Where the interop vectors are, or undefined when this machine has none. */
export const MLS_VECTORS_DIR: string | undefined = candidates.find((d) =>
  existsSync(join(d, 'tree-math.json')),
);

if (MLS_VECTORS_DIR === undefined) {
  console.warn(
    `RFC 9420 interop vectors not found (looked in ${candidates.join(', ')}): the MLS vector suites are SKIPPED. ` +
      'Set OVERT_MLS_VECTORS to a copy of mlswg/mls-implementations test-vectors/ (or OVERT_VECTORS to the shared ' +
      'vectors directory, which holds them under mls/).',
  );
}

/** `describe` when the vectors are present, `describe.skip` (reported as skipped) when they are not. */
export const describeVectors = MLS_VECTORS_DIR === undefined ? describe.skip : describe;

/**
 * A vector file's entries. `X.suite1.json` names the ciphersuite-1 entries of upstream `X.json`: read as such
 * when only the upstream file is present (the large upstream files are kept filtered where space matters).
 */
export function load(name: string): Json[] {
  const dir = MLS_VECTORS_DIR;
  if (dir === undefined) throw new Error('RFC 9420 interop vectors are not available');
  const path = join(dir, name);
  if (!existsSync(path) && name.endsWith('.suite1.json')) {
    const all = JSON.parse(readFileSync(join(dir, name.replace('.suite1.json', '.json')), 'utf8')) as Json[];
    return all.filter((v) => v.cipher_suite === 1);
  }
  return JSON.parse(readFileSync(path, 'utf8')) as Json[];
}

/** The entries of a vector file for ciphersuite 1; there must be some. */
export function suite1(name: string): Json[] {
  const all = load(name).filter((v) => v.cipher_suite === 1);
  expect(all.length).toBeGreaterThan(0);
  return all;
}

export const h = (s: string): Uint8Array => fromHex(s);
export const hex = (b: Uint8Array): string => toHex(b);

export function decodeMessage(bytes: Uint8Array): MLSMessage {
  const d = decodeMlsMessage(bytes, 0);
  if (d === undefined || d[1] !== bytes.length) throw new Error('vector message does not decode');
  return d[0];
}

export function privateOf(m: MLSMessage): PrivateMessage {
  if (m.wireformat !== 'mls_private_message') throw new Error('expected a PrivateMessage');
  return m.privateMessage;
}

/** GroupContext with the vector's group id and confirmed transcript hash, and no extensions. */
export function groupContext(v: Json, epoch: bigint, treeHash: Uint8Array): GroupContext {
  return {
    version: 'mls10',
    cipherSuite: CIPHERSUITE_NAME,
    groupId: h(v.group_id),
    epoch,
    treeHash,
    confirmedTranscriptHash: h(v.confirmed_transcript_hash),
    extensions: [],
  };
}
