/**
 * The offline verifier of an evidence bundle (docs/spec/evidence.md §4): from the files alone — no network, no
 * clock, no secret — it checks the layout and the requester-signed manifest, every file's hash, the log's
 * checkpoint and witness cosignatures, every entry's tlog-proof receipt, the policy, request, decisions,
 * execution, releases, epoch key and devices (access.md §8), every share bundle, and every message: sender
 * signature, capsule, each trustee's share, the combination and the decryption, and that the text or file shown
 * is exactly what the envelope holds. It returns one verdict per message and every failure with the file or
 * message it concerns. Pure and browser-safe: the caller gives an abstract file map (a directory or an archive).
 */

import {
  checkShareBundle,
  decodeRequest,
  decodeShareBundle,
  decodeSigned,
  equalBytes,
  findRequester,
  fromBase64,
  fromBase64Url,
  isOvertError,
  MAX_REQUEST_BYTES,
  RELEASE_BATCH,
  sha256,
  toBase64Url,
  toHex,
  utf8Decode,
  verifyPolicyEntry,
} from '@overt/core';
import {
  type LogPolicy,
  parseReceipt,
  parseVerifierKey,
  type VerifiedCheckpoint,
  verifyCheckpoint,
  verifyReceipt,
} from '@overt/log';
import { ClientError } from '../errors.js';
import {
  AccessCaseError,
  type CaseBundle,
  type CaseEntries,
  type CaseLog,
  type CaseRelease,
  type CaseWhere,
  type LoggedEntry,
  type MessageVerdict,
  openCaseEnvelopes,
  verifyCaseLog,
} from './case.js';
import type { CaseCrypto } from './case-crypto.js';
import {
  ANCHORS_PATH,
  CHECKPOINT_PATH,
  ciphertextPath,
  EVIDENCE_ANCHORS_FORMAT,
  EVIDENCE_FORMAT,
  type EvidenceAnchors,
  type EvidenceEntryRole,
  type EvidenceFiles,
  type EvidenceManifest,
  encodeAnchors,
  entryPath,
  headPath,
  isEvidencePath,
  isManifestSignatureValid,
  MANIFEST_PATH,
  MANIFEST_SIG_PATH,
  type ManifestEntry,
  type ManifestMessage,
  receiptPath,
  sealedBundlePath,
  sharesPath,
  sortedPaths,
} from './evidence.js';

export interface EvidenceFailure {
  /** The check that failed: EVD-n, or the access check (ACC-Q*, ACC-A9) behind it. */
  readonly check: string;
  readonly reason: string;
  /** The file the failure concerns, when one does. */
  readonly file?: string;
  /** The message (envelope position) it concerns, when one does. */
  readonly position?: number;
}

export interface EvidenceMessage {
  readonly position: number;
  /** verified: opened and matches the manifest; withheld: fewer than k shares, as the manifest says; failed. */
  readonly status: 'verified' | 'withheld' | 'failed';
  readonly messageId?: string;
  readonly sender?: string;
  readonly device?: string;
  readonly sendTime?: number;
  readonly contentType?: string;
  /** The content file's path, for a verified message. */
  readonly content?: string;
  readonly fileName?: string;
  /** The trustees whose shares were combined. */
  readonly trustees?: readonly number[];
  readonly check?: string;
  readonly reason?: string;
}

export interface EvidenceReport {
  /** True when every check passed and every message is verified or withheld as the manifest says. */
  readonly ok: boolean;
  readonly requestId?: string;
  readonly org?: string;
  /** Whether the caller pinned the anchors (else the bundle's own were used: compare them yourself). */
  readonly anchorsPinned: boolean;
  readonly checkpoint?: {
    readonly origin: string;
    readonly size: number;
    readonly witnesses: readonly string[];
  };
  readonly failures: readonly EvidenceFailure[];
  readonly messages: readonly EvidenceMessage[];
}

export interface VerifyEvidenceOptions {
  /** The anchors the verifier trusts; the bundle's anchors.json must equal them (EVD-4). */
  readonly anchors?: EvidenceAnchors;
  /** Where the messages' cryptography runs (EVD-9): default this thread; in node, a PooledCaseCrypto. */
  readonly crypto?: CaseCrypto;
}

class Stop extends Error {}

const ROLES: readonly EvidenceEntryRole[] = [
  'policy',
  'request',
  'decision',
  'execution',
  'release',
  'epoch-key',
  'device',
];

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function keysAre(o: Json, required: readonly string[], optional: readonly string[] = []): boolean {
  const ks = Object.keys(o);
  return required.every((k) => k in o) && ks.every((k) => required.includes(k) || optional.includes(k));
}

const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
const isStr = (v: unknown, max = 4096): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max;
const isHex32 = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);

/** Strict parse of manifest.json (evidence.md §3): exact keys, types and ranges. Throws a reason string. */
export function parseManifest(bytes: Uint8Array): EvidenceManifest {
  let j: unknown;
  try {
    j = JSON.parse(utf8Decode(bytes));
  } catch {
    throw 'manifest.json is not JSON';
  }
  if (
    !isObj(j) ||
    !keysAre(j, ['format', 'org', 'requestId', 'requester', 'createdAt', 'entries', 'messages', 'files'])
  )
    throw 'manifest has the wrong fields';
  if (j.format !== EVIDENCE_FORMAT) throw 'manifest format is not overt-evidence/v1';
  if (!isStr(j.org, 255) || !isStr(j.requestId, 64) || !isStr(j.requester, 255) || !isUint(j.createdAt))
    throw 'manifest header fields are invalid';
  if (!Array.isArray(j.entries) || !Array.isArray(j.messages) || !Array.isArray(j.files))
    throw 'manifest lists are not arrays';
  const entries: ManifestEntry[] = j.entries.map((e) => {
    if (!isObj(e) || !keysAre(e, ['index', 'role'], ['trustee', 'batch']) || !isUint(e.index))
      throw 'a manifest entry is invalid';
    if (!ROLES.includes(e.role as EvidenceEntryRole)) throw 'a manifest entry has an unknown role';
    const isRelease = e.role === 'release';
    if (isRelease !== 'trustee' in e || isRelease !== 'batch' in e) throw 'a manifest entry is invalid';
    if (isRelease && (!isUint(e.trustee, 255) || !isUint(e.batch, 0xffffffff)))
      throw 'a manifest release is invalid';
    return e as unknown as ManifestEntry;
  });
  for (let i = 1; i < entries.length; i++)
    if (entries[i]!.index <= entries[i - 1]!.index)
      throw 'manifest entries are not in strictly increasing order';
  const messages: ManifestMessage[] = j.messages.map((m, i) => {
    if (
      !isObj(m) ||
      !keysAre(
        m,
        ['position', 'status', 'messageId', 'sender', 'device', 'sendTime', 'contentType'],
        ['content', 'sha256', 'fileName'],
      ) ||
      m.position !== i ||
      (m.status !== 'opened' && m.status !== 'withheld') ||
      !isStr(m.messageId, 64) ||
      !isStr(m.sender, 255) ||
      !isStr(m.device, 255) ||
      !isUint(m.sendTime) ||
      !isStr(m.contentType, 127)
    )
      throw 'a manifest message is invalid';
    const opened = m.status === 'opened';
    if (opened !== 'content' in m || opened !== 'sha256' in m || (!opened && 'fileName' in m))
      throw 'a manifest message is invalid';
    if (opened && (!isStr(m.content, 1024) || !isHex32(m.sha256))) throw 'a manifest message is invalid';
    if ('fileName' in m && !isStr(m.fileName, 1024)) throw 'a manifest message is invalid';
    return m as unknown as ManifestMessage;
  });
  const files = j.files.map((f) => {
    if (
      !isObj(f) ||
      !keysAre(f, ['path', 'size', 'sha256']) ||
      !isStr(f.path, 1024) ||
      !isUint(f.size) ||
      !isHex32(f.sha256)
    )
      throw 'a manifest file is invalid';
    if (!isEvidencePath(f.path) || f.path === MANIFEST_PATH || f.path === MANIFEST_SIG_PATH)
      throw 'a manifest file path is not allowed';
    return f as unknown as EvidenceManifest['files'][number];
  });
  const paths = files.map((f) => f.path);
  const sorted = sortedPaths(new Map(paths.map((p) => [p, new Uint8Array(0)])));
  if (sorted.length !== paths.length || sorted.some((p, i) => p !== paths[i]))
    throw 'manifest files are not sorted and unique';
  return { ...(j as unknown as EvidenceManifest), entries, messages, files };
}

/** Strict parse of anchors.json. Throws a reason string. */
export function parseAnchors(bytes: Uint8Array): EvidenceAnchors {
  let j: unknown;
  try {
    j = JSON.parse(utf8Decode(bytes));
  } catch {
    throw 'anchors.json is not JSON';
  }
  if (
    !isObj(j) ||
    !keysAre(j, ['format', 'org', 'orgKey', 'relayKey', 'log']) ||
    j.format !== EVIDENCE_ANCHORS_FORMAT
  )
    throw 'anchors have the wrong fields';
  const log = j.log;
  if (!isObj(log) || !keysAre(log, ['origin', 'vkey', 'witnessVkeys', 'witnessQuorum']))
    throw 'anchors.log is invalid';
  if (
    !isStr(j.org, 255) ||
    !isStr(j.orgKey) ||
    !isStr(j.relayKey) ||
    !isStr(log.origin, 255) ||
    !isStr(log.vkey) ||
    !Array.isArray(log.witnessVkeys) ||
    !log.witnessVkeys.every((v) => isStr(v)) ||
    !isUint(log.witnessQuorum, 255)
  )
    throw 'anchors fields are invalid';
  let orgKey: Uint8Array;
  let relayKey: Uint8Array;
  try {
    orgKey = fromBase64(j.orgKey);
    relayKey = fromBase64(j.relayKey);
  } catch {
    throw 'anchors keys are not base64';
  }
  if (orgKey.length !== 32 || relayKey.length !== 32) throw 'anchors keys are not 32 bytes';
  return {
    org: j.org,
    orgKey,
    relayKey,
    log: {
      origin: log.origin,
      vkey: log.vkey,
      witnessVkeys: log.witnessVkeys as string[],
      witnessQuorum: log.witnessQuorum,
    },
  };
}

function sameAnchors(a: EvidenceAnchors, b: EvidenceAnchors): boolean {
  return (
    a.org === b.org &&
    equalBytes(a.orgKey, b.orgKey) &&
    equalBytes(a.relayKey, b.relayKey) &&
    a.log.origin === b.log.origin &&
    a.log.vkey === b.log.vkey &&
    a.log.witnessQuorum === b.log.witnessQuorum &&
    a.log.witnessVkeys.length === b.log.witnessVkeys.length &&
    a.log.witnessVkeys.every((v, i) => v === b.log.witnessVkeys[i])
  );
}

function logPolicyOfAnchors(a: EvidenceAnchors): LogPolicy {
  return {
    origin: a.log.origin,
    logKeys: [parseVerifierKey(a.log.vkey)],
    witnesses: { witnesses: a.log.witnessVkeys.map(parseVerifierKey), quorum: a.log.witnessQuorum },
  };
}

function contentPathOf(position: number, contentType: string, fileName: string | undefined): string {
  if (fileName !== undefined) return `messages/${position}/file/${fileName}`;
  return contentType.startsWith('text/')
    ? `messages/${position}/text.txt`
    : `messages/${position}/content.bin`;
}

function fileOf(where: CaseWhere): string | undefined {
  if (where.entry !== undefined) return entryPath(where.entry);
  if (where.position !== undefined) return headPath(where.position);
  if (where.trustee !== undefined && where.batch !== undefined) return sharesPath(where.trustee, where.batch);
  return undefined;
}

/**
 * Verifies an evidence bundle (evidence.md §4), in order: EVD-1 layout, EVD-2 manifest, EVD-3 file hashes,
 * EVD-4 anchors, EVD-5 the requester's manifest signature, EVD-6 checkpoint and receipts, EVD-7 the logged
 * objects (ACC-Q2..Q6), EVD-8 the share bundles, EVD-9 the messages (ACC-Q7..Q10, ACC-A9), EVD-10 the content shown.
 * Never throws on a bad bundle: every failure is in the report, with its file or message.
 */
export async function verifyEvidence(
  files: EvidenceFiles,
  options: VerifyEvidenceOptions = {},
): Promise<EvidenceReport> {
  const failures: EvidenceFailure[] = [];
  const messages: EvidenceMessage[] = [];
  const base = { anchorsPinned: options.anchors !== undefined };
  const report = (extra: Partial<EvidenceReport> = {}): EvidenceReport => ({
    ok: failures.length === 0 && messages.length > 0 && messages.every((m) => m.status !== 'failed'),
    ...base,
    ...extra,
    failures,
    messages,
  });
  const failure = (check: string, reason: string, file?: string, position?: number): void => {
    failures.push({
      check,
      reason,
      ...(file !== undefined ? { file } : {}),
      ...(position !== undefined ? { position } : {}),
    });
  };
  const stop = (check: string, reason: string, file?: string): never => {
    failure(check, reason, file);
    throw new Stop();
  };
  let manifest: EvidenceManifest | undefined;
  let checkpoint: VerifiedCheckpoint | undefined;
  try {
    // EVD-1 layout.
    for (const p of files.keys()) if (!isEvidencePath(p)) stop('EVD-1', 'a path is not allowed');
    const manifestBytes =
      files.get(MANIFEST_PATH) ?? stop('EVD-1', 'manifest.json is missing', MANIFEST_PATH);
    const sig = files.get(MANIFEST_SIG_PATH) ?? stop('EVD-1', 'manifest.sig is missing', MANIFEST_SIG_PATH);
    // EVD-2 manifest.
    try {
      manifest = parseManifest(manifestBytes);
    } catch (reason) {
      stop('EVD-2', typeof reason === 'string' ? reason : 'manifest does not parse', MANIFEST_PATH);
    }
    const m = manifest!;
    // EVD-3 every file listed, present, of its size and hash.
    const bad = new Set<string>();
    const listed = new Set(m.files.map((f) => f.path));
    for (const p of files.keys())
      if (p !== MANIFEST_PATH && p !== MANIFEST_SIG_PATH && !listed.has(p)) {
        failure('EVD-3', 'a file is not listed in the manifest', p);
        bad.add(p);
      }
    for (const f of m.files) {
      const b = files.get(f.path);
      if (b === undefined) failure('EVD-3', 'a listed file is missing', f.path);
      else if (b.length !== f.size || toHex(sha256(b)) !== f.sha256)
        failure('EVD-3', 'a file does not match its manifest hash', f.path);
      else continue;
      bad.add(f.path);
    }
    // EVD-4 anchors.
    const anchorsBytes = files.get(ANCHORS_PATH) ?? stop('EVD-4', 'anchors.json is missing', ANCHORS_PATH);
    let anchors: EvidenceAnchors;
    try {
      anchors = parseAnchors(anchorsBytes);
    } catch (reason) {
      return report(void stop('EVD-4', String(reason), ANCHORS_PATH));
    }
    if (!equalBytes(encodeAnchors(anchors), anchorsBytes))
      stop('EVD-4', 'anchors.json is not in its canonical form', ANCHORS_PATH);
    if (options.anchors !== undefined && !sameAnchors(anchors, options.anchors))
      stop('EVD-4', 'the bundle names other trust anchors than the pinned ones', ANCHORS_PATH);
    if (anchors.org !== m.org) stop('EVD-4', "the anchors' org is not the manifest's", ANCHORS_PATH);
    // EVD-5 the manifest is signed by the requester the request entry names, under the policy it names (both
    // verified under the org key). Checked as soon as the key is known, so that nothing below trusts an unsigned
    // manifest; the full check of both entries follows (EVD-7).
    const requesterKey = requesterKeyOf(files, m, anchors.orgKey);
    if (requesterKey !== undefined && !isManifestSignatureValid(requesterKey, manifestBytes, sig))
      stop(
        'EVD-5',
        "manifest.json is not signed by the request's requester (manifest.sig)",
        MANIFEST_SIG_PATH,
      );
    // EVD-6 checkpoint and receipts.
    let policy: LogPolicy;
    try {
      policy = logPolicyOfAnchors(anchors);
    } catch (cause) {
      return report(
        void stop('EVD-4', `the anchors' log keys do not parse (${errorId(cause)})`, ANCHORS_PATH),
      );
    }
    const cpBytes = files.get(CHECKPOINT_PATH) ?? stop('EVD-6', 'checkpoint.txt is missing', CHECKPOINT_PATH);
    try {
      checkpoint = verifyCheckpoint(utf8Decode(cpBytes), policy);
    } catch (cause) {
      stop('EVD-6', `the checkpoint does not verify (${errorId(cause)})`, CHECKPOINT_PATH);
    }
    const cp = checkpoint!;
    const cpText = utf8Decode(cpBytes);
    const logged = new Map<number, LoggedEntry>();
    for (const e of m.entries) {
      const entry = files.get(entryPath(e.index));
      const proof = files.get(receiptPath(e.index));
      if (entry === undefined || proof === undefined) {
        failure(
          'EVD-6',
          'a logged entry or its receipt is missing',
          entry === undefined ? entryPath(e.index) : receiptPath(e.index),
        );
        continue;
      }
      try {
        const text = utf8Decode(proof);
        const receipt = parseReceipt(text);
        if (receipt.index !== e.index)
          throw new ClientError('EVIDENCE_INVALID', 'receipt index', { check: 'EVD-6' });
        if (text.slice(text.indexOf('\n\n') + 2) !== cpText)
          throw new ClientError('EVIDENCE_INVALID', 'receipt checkpoint', { check: 'EVD-6' });
      } catch (cause) {
        failure(
          'EVD-6',
          `the receipt is malformed, for another index or under another checkpoint (${errorId(cause)})`,
          receiptPath(e.index),
        );
        continue;
      }
      try {
        verifyReceipt(proof, { entry }, policy);
      } catch (cause) {
        // The entry or its proof hashes differently from what the checkpoint holds: name both.
        for (const f of [entryPath(e.index), receiptPath(e.index)])
          failure(
            'EVD-6',
            `the entry is not included at its index under the checkpoint (${errorId(cause)}, ACC-Q1)`,
            f,
          );
        continue;
      }
      logged.set(e.index, { index: e.index, entry });
    }
    if (failures.some((f) => f.check === 'EVD-6')) throw new Stop();
    // EVD-7 the logged objects.
    let requestId: Uint8Array;
    try {
      requestId = fromBase64Url(m.requestId);
    } catch {
      return report(void stop('EVD-2', 'the manifest request id is not base64url', MANIFEST_PATH));
    }
    const byRole = (r: EvidenceEntryRole) =>
      m.entries.filter((e) => e.role === r).map((e) => logged.get(e.index)!);
    const one = (r: EvidenceEntryRole): LoggedEntry => {
      const xs = byRole(r);
      if (xs.length !== 1) stop('EVD-7', `the manifest must list exactly one ${r} entry`, MANIFEST_PATH);
      return xs[0]!;
    };
    const releases: CaseRelease[] = [];
    for (const e of m.entries.filter((x) => x.role === 'release')) {
      const sealed = files.get(sealedBundlePath(e.trustee!, e.batch!));
      if (sealed === undefined) {
        failure('EVD-8', 'a sealed bundle is missing', sealedBundlePath(e.trustee!, e.batch!));
        continue;
      }
      releases.push({ entry: logged.get(e.index)!, batch: e.batch!, sealed });
    }
    const entries: CaseEntries = {
      orgKey: anchors.orgKey,
      relayKey: anchors.relayKey,
      requestId,
      policies: byRole('policy'),
      request: one('request'),
      decisions: byRole('decision'),
      execution: one('execution'),
      releases,
      epochKeys: byRole('epoch-key'),
      devices: byRole('device'),
    };
    let log: CaseLog;
    try {
      log = verifyCaseLog(entries);
    } catch (e) {
      if (e instanceof AccessCaseError)
        return report(void stop(e.check ?? 'EVD-7', e.message, fileOf(e.where)));
      throw e;
    }
    const q = log.request.request;
    // EVD-5 again, now that the request and policy verified: the manifest names them and is their requester's.
    const requester = findRequester(log.policy.policy, q.requesterId);
    if (
      requester === undefined ||
      m.requester !== q.requesterId ||
      m.org !== q.orgId ||
      !isManifestSignatureValid(requester.signingKey, manifestBytes, sig)
    )
      failure(
        'EVD-5',
        "the manifest is not signed by the request's requester or misnames the request",
        MANIFEST_SIG_PATH,
      );
    // EVD-8 the bundles.
    const bundles: CaseBundle[] = [];
    for (const r of log.releases) {
      const t = r.release.release.trusteeIndex;
      const listedAs = m.entries.find((e) => e.index === r.index)!;
      if (listedAs.trustee !== t) {
        failure('EVD-8', 'the manifest names another trustee for a release', MANIFEST_PATH);
        continue;
      }
      if (!equalBytes(sha256(r.sealed), r.release.release.bundleHash)) {
        failure(
          'EVD-8',
          'the sealed bundle is not the one its release names (ACC-2)',
          sealedBundlePath(t, r.batch),
        );
        continue;
      }
      const plain = files.get(sharesPath(t, r.batch));
      if (plain === undefined) {
        failure('EVD-8', 'the opened bundle is missing', sharesPath(t, r.batch));
        continue;
      }
      try {
        const bundle = decodeShareBundle(plain);
        checkShareBundle(log.execution, r.release, r.batch, bundle);
        bundles.push({ release: r.release, batch: r.batch, bundle });
      } catch (cause) {
        if (!isOvertError(cause)) throw cause;
        failure(
          'EVD-8',
          `the opened bundle does not decode or is not the release's (${errorId(cause)})`,
          sharesPath(t, r.batch),
        );
      }
    }
    // EVD-9 the messages.
    const count = log.execution.execution.envelopeCount;
    if (m.messages.length !== count)
      stop('EVD-9', 'the manifest does not list every executed message', MANIFEST_PATH);
    const envelopes = [];
    for (let p = 0; p < count; p++) {
      const head = files.get(headPath(p));
      const ciphertext = files.get(ciphertextPath(p));
      if (head === undefined || ciphertext === undefined)
        stop(
          'EVD-9',
          'an executed envelope is missing',
          head === undefined ? headPath(p) : ciphertextPath(p),
        );
      envelopes.push({ position: p, head: head!, ciphertext: ciphertext! });
    }
    let verdicts: MessageVerdict[];
    try {
      verdicts = await openCaseEnvelopes(log, bundles, envelopes, {
        strict: true,
        ...(options.crypto ? { crypto: options.crypto } : {}),
      });
    } catch (e) {
      if (e instanceof AccessCaseError)
        return report(void stop(e.check ?? 'EVD-9', e.message, fileOf(e.where)));
      throw e;
    }
    for (const v of verdicts) {
      const said = m.messages[v.position]!;
      const p = v.position;
      const batch = Math.floor(p / RELEASE_BATCH);
      const msgFail = (check: string, reason: string, file?: string): void => {
        failure(check, reason, file, p);
        messages.push({ position: p, status: 'failed', check, reason });
      };
      if (!v.ok) {
        if (
          v.code === 'ACCESS_WITHHELD' &&
          said.status === 'withheld' &&
          headerMatches(said, v.header, undefined)
        ) {
          messages.push({
            position: p,
            status: 'withheld',
            messageId: said.messageId,
            check: v.check,
            reason: v.reason,
          });
          continue;
        }
        const file =
          v.check === 'ACC-A9' && v.badShares.length > 0
            ? sharesPath(v.badShares[0]!.trustee, batch)
            : v.check === 'ACC-Q10'
              ? ciphertextPath(p)
              : headPath(p);
        msgFail(v.check, v.reason, file);
        continue;
      }
      // EVD-10 the content shown is the content opened.
      const path = contentPathOf(p, v.content.contentType, v.content.fileName);
      const shown = said.content === undefined ? undefined : files.get(said.content);
      if (
        said.status !== 'opened' ||
        !headerMatches(said, v.header, v.content.fileName) ||
        said.contentType !== v.content.contentType
      ) {
        msgFail(
          'EVD-10',
          "the manifest's account of the message is not what the envelope holds",
          MANIFEST_PATH,
        );
        continue;
      }
      if (
        said.content !== path ||
        shown === undefined ||
        !equalBytes(shown, v.content.payload) ||
        said.sha256 !== toHex(sha256(v.content.payload))
      ) {
        msgFail('EVD-10', 'the content shown is not the content the envelope holds', said.content ?? path);
        continue;
      }
      const bads = [...bad].filter((f) => f.startsWith(`messages/${p}/`));
      if (bads.length > 0) {
        msgFail('EVD-3', 'a file of the message does not match its manifest hash', bads[0]);
        continue;
      }
      messages.push({
        position: p,
        status: 'verified',
        messageId: said.messageId,
        sender: said.sender,
        device: said.device,
        sendTime: said.sendTime,
        contentType: said.contentType,
        content: path,
        ...(v.content.fileName !== undefined ? { fileName: v.content.fileName } : {}),
        trustees: v.trustees,
      });
    }
    return report({
      requestId: m.requestId,
      org: m.org,
      checkpoint: { origin: cp.origin, size: cp.size, witnesses: cp.cosignatures.map((c) => c.key.name) },
    });
  } catch (e) {
    if (e instanceof Stop)
      return report(manifest ? { requestId: manifest.requestId, org: manifest.org } : {});
    throw e;
  }
}

/**
 * The signing key of the requester that the manifest's request entry names, under the policy entry whose hash it
 * names (verified under the org key); undefined when they cannot be found or do not verify (EVD-7 reports that).
 */
function requesterKeyOf(
  files: EvidenceFiles,
  m: EvidenceManifest,
  orgKey: Uint8Array,
): Uint8Array | undefined {
  try {
    const req = m.entries.find((e) => e.role === 'request');
    const reqEntry = req === undefined ? undefined : files.get(entryPath(req.index));
    if (reqEntry === undefined || reqEntry[0] !== 5) return undefined;
    const q = decodeRequest(
      decodeSigned(reqEntry.subarray(1), MAX_REQUEST_BYTES, 'REQUEST_INVALID', 'WF-R1').body,
    );
    for (const e of m.entries.filter((x) => x.role === 'policy')) {
      const bytes = files.get(entryPath(e.index));
      if (bytes === undefined) continue;
      try {
        const p = verifyPolicyEntry(orgKey, bytes);
        if (equalBytes(p.hash, q.policyHash)) return findRequester(p.policy, q.requesterId)?.signingKey;
      } catch (err) {
        if (!isOvertError(err)) throw err;
      }
    }
  } catch (err) {
    if (!isOvertError(err)) throw err;
  }
  return undefined;
}

function headerMatches(
  said: ManifestMessage,
  h:
    | { messageId: Uint8Array; senderUserId: string; senderDeviceId: Uint8Array; sendTime: number }
    | undefined,
  fileName: string | undefined,
): boolean {
  if (h === undefined) return false;
  let device: string;
  try {
    device = utf8Decode(h.senderDeviceId);
  } catch {
    return false;
  }
  return (
    said.messageId === toBase64Url(h.messageId) &&
    said.sender === h.senderUserId &&
    said.device === device &&
    said.sendTime === h.sendTime &&
    said.fileName === fileName
  );
}

/** A failure's code and check, never its message text (which may quote nothing secret, but need not be shown). */
function errorId(e: unknown): string {
  if (isOvertError(e) || e instanceof ClientError) return e.check ? `${e.code} ${e.check}` : e.code;
  if (isObj(e) && typeof e.code === 'string')
    return String(e.code) + (typeof e.check === 'string' ? ` ${e.check}` : '');
  return 'error';
}
