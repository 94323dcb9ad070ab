/**
 * The evidence bundle of an executed access request (docs/spec/evidence.md): a set of files — every logged object
 * with its c2sp tlog-proof receipt under one witnessed checkpoint, the sealed and opened share bundles, every
 * executed envelope, and each opened message as text or as a file — with a manifest signed by the requester.
 * This module is the format: paths, the manifest, the single-file archive, and the builder that turns what
 * {@link collect} found into files. The verifier is evidence-verify.ts; writing to disk is node/evidence-write.ts.
 * Pure and browser-safe.
 */
import {
  concatBytes,
  encodeShareBundle,
  type SigningKeyPair,
  sha256,
  sign,
  toBase64,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
  verifySignature,
} from '@overt/core';
import { createReceipt, type HashReader } from '@overt/log';
import { ClientError } from '../errors.js';
import type { Collected } from './requester.js';

export const EVIDENCE_FORMAT = 'overt-evidence/v1';
export const EVIDENCE_ANCHORS_FORMAT = 'overt-evidence-anchors/v1';
/** The archive's first bytes: ASCII "overt-evidence-v1" and a newline. */
export const EVIDENCE_ARCHIVE_MAGIC = 'overt-evidence-v1\n';
export const TAG_EVIDENCE_MANIFEST = 'overt/evidence/v1/manifest';
export const MANIFEST_PATH = 'manifest.json';
export const MANIFEST_SIG_PATH = 'manifest.sig';
export const ANCHORS_PATH = 'anchors.json';
export const CHECKPOINT_PATH = 'checkpoint.txt';
/** Longest path, bytes of UTF-8. */
export const EVIDENCE_PATH_MAX = 1024;
/** Most files in one bundle. */
export const EVIDENCE_FILES_MAX = 1 << 20;

/** The files of a bundle: path → bytes. */
export type EvidenceFiles = ReadonlyMap<string, Uint8Array>;

export type EvidenceEntryRole =
  | 'policy'
  | 'request'
  | 'decision'
  | 'execution'
  | 'release'
  | 'epoch-key'
  | 'device';

export interface ManifestEntry {
  readonly index: number;
  readonly role: EvidenceEntryRole;
  /** For a release: its trustee and batch. */
  readonly trustee?: number;
  readonly batch?: number;
}

export interface ManifestMessage {
  readonly position: number;
  /** "opened": the verifier must open it to exactly the content given; "withheld": fewer than k shares released. */
  readonly status: 'opened' | 'withheld';
  /** base64url of the 16-byte message id. */
  readonly messageId: string;
  readonly sender: string;
  readonly device: string;
  readonly sendTime: number;
  /** The content type shown: the header's, or a FileContent's own. */
  readonly contentType: string;
  /** For an opened message: the path of its content file, its SHA-256 (hex) and, for a file, its sanitised name. */
  readonly content?: string;
  readonly sha256?: string;
  readonly fileName?: string;
}

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  /** SHA-256 of the file, lowercase hex. */
  readonly sha256: string;
}

export interface EvidenceManifest {
  readonly format: typeof EVIDENCE_FORMAT;
  readonly org: string;
  /** base64url of the request id. */
  readonly requestId: string;
  readonly requester: string;
  /** When the bundle was written (ms), the writer's word. */
  readonly createdAt: number;
  readonly entries: readonly ManifestEntry[];
  readonly messages: readonly ManifestMessage[];
  readonly files: readonly ManifestFile[];
}

/** The trust anchors the bundle was checked against; a verifier should pin its own and compare. */
export interface EvidenceAnchors {
  readonly org: string;
  /** The org (admin) Ed25519 key. */
  readonly orgKey: Uint8Array;
  /** The relay's execution key. */
  readonly relayKey: Uint8Array;
  readonly log: {
    readonly origin: string;
    /** The log's note verifier key (type 0x01), c2sp vkey syntax. */
    readonly vkey: string;
    readonly witnessVkeys: readonly string[];
    readonly witnessQuorum: number;
  };
}

export function evidenceError(check: string, message: string, cause?: unknown): ClientError {
  return new ClientError('EVIDENCE_INVALID', message, { check, cause });
}

// Paths (evidence.md §2).

// biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is that they are absent
const BAD_SEGMENT_CHAR = /[\u0000-\u001f\u007f\\/]/u;

/** True for a path the format allows: '/'-separated non-empty segments, none "." or "..", no control or '\'. */
export function isEvidencePath(p: string): boolean {
  if (typeof p !== 'string' || p.length === 0) return false;
  if (utf8Encode(p).length > EVIDENCE_PATH_MAX || p !== p.normalize('NFC')) return false;
  return p
    .split('/')
    .every((seg) => seg.length > 0 && seg !== '.' && seg !== '..' && !BAD_SEGMENT_CHAR.test(seg));
}

export const entryPath = (index: number): string => `entries/${index}.entry`;
export const receiptPath = (index: number): string => `entries/${index}.proof`;
export const sealedBundlePath = (trustee: number, batch: number): string =>
  `bundles/${trustee}-${batch}.sealed`;
export const sharesPath = (trustee: number, batch: number): string => `bundles/${trustee}-${batch}.shares`;
export const headPath = (position: number): string => `messages/${position}/head.bin`;
export const ciphertextPath = (position: number): string => `messages/${position}/ciphertext.bin`;

// The single-file archive (evidence.md §5).

function compareUtf8(a: string, b: string): number {
  const x = utf8Encode(a);
  const y = utf8Encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** Sorted by the UTF-8 bytes of the path, as the archive and the manifest list them. */
export function sortedPaths(files: EvidenceFiles): string[] {
  return [...files.keys()].sort(compareUtf8);
}

/** magic ‖ u32 count ‖ count × (u16 path_len ‖ path ‖ u64 size ‖ bytes), paths strictly increasing. */
export function encodeEvidenceArchive(files: EvidenceFiles): Uint8Array {
  const paths = sortedPaths(files);
  if (paths.length > EVIDENCE_FILES_MAX) throw evidenceError('EVD-1', 'too many files');
  const parts: Uint8Array[] = [utf8Encode(EVIDENCE_ARCHIVE_MAGIC)];
  const count = new Uint8Array(4);
  new DataView(count.buffer).setUint32(0, paths.length);
  parts.push(count);
  for (const p of paths) {
    if (!isEvidencePath(p)) throw evidenceError('EVD-1', 'a path is not allowed');
    const name = utf8Encode(p);
    const bytes = files.get(p)!;
    const head = new Uint8Array(2 + name.length + 8);
    const v = new DataView(head.buffer);
    v.setUint16(0, name.length);
    head.set(name, 2);
    v.setUint32(2 + name.length, Math.floor(bytes.length / 2 ** 32));
    v.setUint32(6 + name.length, bytes.length >>> 0);
    parts.push(head, bytes);
  }
  return concatBytes(...parts);
}

/** The strict decoder of {@link encodeEvidenceArchive}. EVIDENCE_INVALID (EVD-1) on any deviation. */
export function decodeEvidenceArchive(archive: Uint8Array): Map<string, Uint8Array> {
  const bad = (m: string): never => {
    throw evidenceError('EVD-1', `archive ${m}`);
  };
  if (!(archive instanceof Uint8Array)) bad('is not bytes');
  const magic = utf8Encode(EVIDENCE_ARCHIVE_MAGIC);
  if (archive.length < magic.length + 4 || magic.some((b, i) => archive[i] !== b))
    bad('has no evidence magic');
  const v = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  let at = magic.length;
  const count = v.getUint32(at);
  at += 4;
  if (count > EVIDENCE_FILES_MAX) bad('lists too many files');
  const out = new Map<string, Uint8Array>();
  let previous: string | undefined;
  for (let i = 0; i < count; i++) {
    if (at + 2 > archive.length) bad('ends inside a path length');
    const n = v.getUint16(at);
    at += 2;
    if (n === 0 || n > EVIDENCE_PATH_MAX || at + n + 8 > archive.length) bad('has a bad path length');
    let path = '';
    try {
      path = utf8Decode(archive.subarray(at, at + n));
    } catch {
      bad('has a path that is not UTF-8');
    }
    at += n;
    if (!isEvidencePath(path)) bad('has a path that is not allowed');
    if (previous !== undefined && compareUtf8(previous, path) >= 0) bad('paths are not strictly increasing');
    previous = path;
    const hi = v.getUint32(at);
    const lo = v.getUint32(at + 4);
    at += 8;
    const size = hi * 2 ** 32 + lo;
    if (size > archive.length - at) bad('ends inside a file');
    out.set(path, archive.slice(at, at + size));
    at += size;
  }
  if (at !== archive.length) bad('has bytes after the last file');
  return out;
}

// The manifest signature (evidence.md §3).

function manifestSigningInput(manifest: Uint8Array): Uint8Array {
  const tag = utf8Encode(TAG_EVIDENCE_MANIFEST);
  return concatBytes(Uint8Array.of(tag.length >> 8, tag.length & 0xff), tag, manifest);
}

export function signManifest(key: SigningKeyPair, manifest: Uint8Array): Uint8Array {
  return sign(key, manifestSigningInput(manifest));
}

export function isManifestSignatureValid(
  publicKey: Uint8Array,
  manifest: Uint8Array,
  sig: Uint8Array,
): boolean {
  return sig.length === 64 && verifySignature(publicKey, manifestSigningInput(manifest), sig);
}

export function encodeAnchors(a: EvidenceAnchors): Uint8Array {
  return utf8Encode(
    `${JSON.stringify(
      {
        format: EVIDENCE_ANCHORS_FORMAT,
        org: a.org,
        orgKey: toBase64(a.orgKey),
        relayKey: toBase64(a.relayKey),
        log: {
          origin: a.log.origin,
          vkey: a.log.vkey,
          witnessVkeys: [...a.log.witnessVkeys],
          witnessQuorum: a.log.witnessQuorum,
        },
      },
      null,
      2,
    )}\n`,
  );
}

/** Every log index the bundle must carry a receipt for. */
export function evidenceIndices(c: Collected): number[] {
  const e = c.entries;
  return [
    ...e.policies.map((x) => x.index),
    e.request.index,
    ...e.decisions.map((x) => x.index),
    e.execution.index,
    ...e.releases.map((x) => x.entry.index),
    ...e.epochKeys.map((x) => x.index),
    ...e.devices.map((x) => x.index),
  ].sort((a, b) => a - b);
}

/** The tlog-proof receipts of `indices` under `checkpoint` (the signed, cosigned note), read through `reader`. */
export async function evidenceReceipts(
  indices: readonly number[],
  checkpoint: string,
  reader: HashReader,
): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const i of indices) out.set(i, await createReceipt(i, checkpoint, reader));
  return out;
}

export interface EvidenceInput {
  readonly collected: Collected;
  readonly anchors: EvidenceAnchors;
  /** The signed checkpoint note, with the witnesses' cosignatures, that every receipt is under. */
  readonly checkpoint: string;
  /** A receipt for every index of {@link evidenceIndices}, under `checkpoint`. */
  readonly receipts: ReadonlyMap<number, string>;
  /** The requester's signing key (the policy's): it signs the manifest. Secret. */
  readonly signingKey: SigningKeyPair;
  readonly createdAt: number;
}

function contentPathOf(position: number, contentType: string, fileName: string | undefined): string {
  if (fileName !== undefined) return `messages/${position}/file/${fileName}`;
  return contentType.startsWith('text/')
    ? `messages/${position}/text.txt`
    : `messages/${position}/content.bin`;
}

/**
 * The bundle's files for what {@link collect} found (evidence.md §2–§3). Every verdict must be opened or
 * "not released" (ACC-Q10 with fewer than k shares); any other failure is refused, since a verifier would reject
 * the bundle. Throws EVIDENCE_INVALID (EVD-1) on a receipt missing or a content path the format cannot hold.
 */
export function buildEvidenceFiles(input: EvidenceInput): Map<string, Uint8Array> {
  const c = input.collected;
  const files = new Map<string, Uint8Array>();
  const entries: ManifestEntry[] = [];
  const add = (
    e: { index: number; entry: Uint8Array },
    role: EvidenceEntryRole,
    extra: Partial<ManifestEntry> = {},
  ) => {
    const receipt = input.receipts.get(e.index);
    if (receipt === undefined) throw evidenceError('EVD-1', `no receipt for log entry ${e.index}`);
    files.set(entryPath(e.index), e.entry.slice());
    files.set(receiptPath(e.index), utf8Encode(receipt));
    entries.push({ index: e.index, role, ...extra });
  };
  for (const p of c.entries.policies) add(p, 'policy');
  add(c.entries.request, 'request');
  for (const d of c.entries.decisions) add(d, 'decision');
  add(c.entries.execution, 'execution');
  for (const k of c.entries.epochKeys) add(k, 'epoch-key');
  for (const d of c.entries.devices) add(d, 'device');
  for (const b of c.bundles) {
    const r = c.log.releases.find((x) => x.release === b.release)!;
    const trustee = b.release.release.trusteeIndex;
    add(
      { index: r.index, entry: c.entries.releases.find((x) => x.entry.index === r.index)!.entry.entry },
      'release',
      {
        trustee,
        batch: b.batch,
      },
    );
    files.set(sealedBundlePath(trustee, b.batch), r.sealed.slice());
    files.set(sharesPath(trustee, b.batch), encodeShareBundle(b.bundle));
  }
  entries.sort((a, b) => a.index - b.index);
  files.set(ANCHORS_PATH, encodeAnchors(input.anchors));
  files.set(CHECKPOINT_PATH, utf8Encode(input.checkpoint));

  const messages: ManifestMessage[] = [];
  for (const e of c.envelopes) {
    files.set(headPath(e.position), e.head.slice());
    files.set(ciphertextPath(e.position), e.ciphertext.slice());
  }
  for (const v of c.verdicts) {
    if (!v.ok) {
      if (v.check !== 'ACC-Q10' || v.code !== 'ACCESS_WITHHELD' || v.messageId === undefined)
        throw evidenceError(
          'EVD-1',
          `message ${v.position} failed its checks (${v.check}): not written as evidence`,
        );
      const header = v.header!;
      messages.push({
        position: v.position,
        status: 'withheld',
        messageId: toBase64Url(v.messageId),
        sender: header.senderUserId,
        device: utf8Decode(header.senderDeviceId),
        sendTime: header.sendTime,
        contentType: header.contentType,
      });
      continue;
    }
    const path = contentPathOf(v.position, v.content.contentType, v.content.fileName);
    if (!isEvidencePath(path))
      throw evidenceError('EVD-1', `message ${v.position}'s content path is not allowed`);
    files.set(path, v.content.payload.slice());
    messages.push({
      position: v.position,
      status: 'opened',
      messageId: toBase64Url(v.messageId),
      sender: v.header.senderUserId,
      device: utf8Decode(v.header.senderDeviceId),
      sendTime: v.header.sendTime,
      contentType: v.content.contentType,
      content: path,
      sha256: toHex(sha256(v.content.payload)),
      ...(v.content.fileName !== undefined ? { fileName: v.content.fileName } : {}),
    });
  }
  const listed: ManifestFile[] = sortedPaths(files).map((path) => ({
    path,
    size: files.get(path)!.length,
    sha256: toHex(sha256(files.get(path)!)),
  }));
  const manifest: EvidenceManifest = {
    format: EVIDENCE_FORMAT,
    org: c.log.policy.policy.orgId,
    requestId: toBase64Url(c.log.request.request.requestId),
    requester: c.log.request.request.requesterId,
    createdAt: input.createdAt,
    entries,
    messages,
    files: listed,
  };
  const manifestBytes = utf8Encode(`${JSON.stringify(manifest, null, 2)}\n`);
  files.set(MANIFEST_PATH, manifestBytes);
  files.set(MANIFEST_SIG_PATH, signManifest(input.signingKey, manifestBytes));
  return files;
}
