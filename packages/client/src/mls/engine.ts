/**
 * The seam between Overt and ts-mls 1.6.4: strict decoding of MLS messages, the mapping of the engine's
 * exceptions to our typed errors, and reading the roster out of a ratchet tree.
 *
 * ts-mls is pinned exactly (DESIGN §9: 2.0.0-rc.10 sends Remove commits without an UpdatePath). Everything that
 * reaches into its internal modules (`ts-mls/<module>.js`) goes through this file or conversation.ts, so an
 * upgrade has few places to re-check.
 */
import { equalBytes } from '@overt/core';
import {
  type ClientState,
  decodeMlsMessage,
  encodeMlsMessage,
  type MLSMessage,
  type RatchetTree,
} from 'ts-mls';
import {
  CodecError,
  CryptoError,
  CryptoVerificationError,
  DependencyError,
  InternalError as EngineInternalError,
  UsageError,
  ValidationError,
} from 'ts-mls/mlsError.js';
import { leafToNodeIndex, toLeafIndex } from 'ts-mls/treemath.js';
import { ClientError, ClientInternalError } from '../errors.js';
import { type Member, memberCredentialOf } from './credential.js';

/**
 * Decodes one MLSMessage (RFC 9420 §6) occupying all of `bytes`. The decoded value must re-encode to the same
 * bytes, so that every accepted message has exactly one encoding (non-minimal varint lengths, §2.1.2, and any
 * other slack are refused). Throws MLS_MALFORMED (check MLS-15).
 */
export function decodeMlsStrict(bytes: Uint8Array): MLSMessage {
  let decoded: [MLSMessage, number] | undefined;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (cause) {
    throw new ClientError('MLS_MALFORMED', 'MLS message does not decode', { check: 'MLS-15', cause });
  }
  if (decoded === undefined)
    throw new ClientError('MLS_MALFORMED', 'MLS message does not decode', { check: 'MLS-15' });
  const [msg, length] = decoded;
  if (length !== bytes.length)
    throw new ClientError('MLS_MALFORMED', 'trailing bytes after MLS message', { check: 'MLS-15' });
  if (msg.version !== 'mls10')
    throw new ClientError('MLS_MALFORMED', 'unknown protocol version', { check: 'MLS-15' });
  let again: Uint8Array;
  try {
    again = encodeMlsMessage(msg);
  } catch (cause) {
    throw new ClientError('MLS_MALFORMED', 'MLS message does not re-encode', { check: 'MLS-15', cause });
  }
  if (!equalBytes(again, bytes))
    throw new ClientError('MLS_MALFORMED', 'MLS message is not canonically encoded', { check: 'MLS-15' });
  return msg;
}

export function encodeMls(msg: MLSMessage): Uint8Array {
  return encodeMlsMessage(msg);
}

/**
 * Where an engine exception happened: processing bytes from a peer (`incoming`: every failure is the peer's
 * fault and becomes a ClientError), or acting on our own state (`local`: a failure that is not a usage error is
 * a bug, or corrupt state).
 */
export type EngineContext = 'incoming' | 'local';

/** Maps an exception thrown by ts-mls to our error types. ClientErrors pass through unchanged. */
export function fromEngineError(e: unknown, context: EngineContext, what: string): Error {
  if (e instanceof ClientError || e instanceof ClientInternalError) return e;
  if (e instanceof DependencyError)
    return new ClientInternalError(`MLS engine dependency missing: ${what}`, { cause: e });
  if (e instanceof CodecError)
    return new ClientError('MLS_MALFORMED', `${what}: does not decode`, { cause: e });
  if (e instanceof CryptoVerificationError)
    return new ClientError('MLS_VERIFY', `${what}: signature or MAC does not verify`, { cause: e });
  if (e instanceof CryptoError)
    return new ClientError('MLS_DECRYPT', `${what}: decryption failed`, { cause: e });
  if (context === 'local') {
    if (e instanceof UsageError || e instanceof ValidationError)
      return new ClientError('MLS_USAGE', `${what}: not possible in this state`, { cause: e });
    return new ClientInternalError(`${what} failed`, { cause: e });
  }
  if (e instanceof ValidationError || e instanceof UsageError || e instanceof EngineInternalError)
    return new ClientError('MLS_INVALID', `${what}: rejected by RFC 9420 validation`, { cause: e });
  // A TypeError or RangeError out of the engine on a peer's bytes: the input was malformed in a way the engine
  // does not check for. Still the peer's fault, still our typed error.
  return new ClientError('MLS_INVALID', `${what}: rejected`, { cause: e });
}

/** The members of a ratchet tree, in leaf order. Throws MLS-1/MLS-2 errors on a leaf we would never accept. */
export function rosterOf(tree: RatchetTree): Member[] {
  const out: Member[] = [];
  for (let i = 0; i < tree.length; i += 2) {
    const node = tree[i];
    if (node?.nodeType !== 'leaf') continue;
    const c = memberCredentialOf(node.leaf.credential, node.leaf.signaturePublicKey);
    out.push({ ...c, leafIndex: i / 2 });
  }
  return out;
}

/** The member at `leafIndex`, or undefined if the leaf is blank or out of range. */
export function memberAt(tree: RatchetTree, leafIndex: number): Member | undefined {
  const node = tree[leafToNodeIndex(toLeafIndex(leafIndex))];
  if (node?.nodeType !== 'leaf') return undefined;
  return { ...memberCredentialOf(node.leaf.credential, node.leaf.signaturePublicKey), leafIndex };
}

export function ownLeafIndex(state: ClientState): number {
  return state.privatePath.leafIndex;
}

/** Best-effort erasure of secrets the engine reports as consumed (JavaScript cannot guarantee it). */
export function wipe(secrets: readonly Uint8Array[]): void {
  for (const s of secrets) s.fill(0);
}
