/**
 * The requester's commands (docs/spec/cli.md §9, access.md §8; DESIGN §4 flows 6–9): `overt request file` builds,
 * signs and seals a request to every trustee of the policy in force and files it; `request status` shows what
 * the log holds about it (decisions, execution, releases, refusals), each object the relay lists checked against
 * a verified view of the log (REQ-2); `request collect` downloads an executed request's sealed share bundles and
 * envelopes into a case directory and checks everything (every share against the epoch's key, naming a trustee
 * whose share is bad; k shares combined; each envelope opened) without writing any plaintext; `request open`
 * checks the case again (offline from collect's directory, or downloading it) and writes the evidence bundle of
 * evidence.md, verified once written.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  buildEvidenceFiles,
  buildRequest,
  type CaseEnvelope,
  ClientError,
  type Collected,
  collect,
  type EvidenceReport,
  evidenceIndices,
  evidenceReceipts,
  type LogView,
  logPolicyOf,
  type MessageVerdict,
  type SealedRelease,
} from '@overt/client';
import { PooledCaseCrypto, writeEvidenceArchive, writeEvidenceDirectory } from '@overt/client/node';
import {
  decodeExtensionStatement,
  equalBytes,
  fromBase64Url,
  fromHex,
  JUSTIFICATION_MAX,
  sha256,
  toBase64,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import {
  formatCheckpoint,
  type HashReader,
  leafHash,
  nodeHash,
  parseCheckpoint,
  verifyCheckpoint,
} from '@overt/log';
import { guarded, printable } from './chat-commands.js';
import {
  type Command,
  type CommandContext,
  EXIT_FAILED,
  EXIT_OK,
  emit,
  fileReason,
  intOption,
  optionalString,
  requireString,
  stringList,
  UsageError,
} from './command.js';
import {
  accessClient,
  type CheckedStatus,
  checkStatus,
  evidenceAnchorsOf,
  lastIndexOf,
  loadOrg,
  logView,
  type Org,
  policyInForce,
  type RequesterKeys,
  readRequesterKeys,
  relayOption,
  requesterIdOf,
  requesterOptions,
  requestIdArg,
  subjectsOption,
  verifyEvidenceWithWorkers,
} from './requester.js';
import { Progress } from './tty.js';

const DAY = 86_400_000;

/** An ISO 8601 date or date-time option, in ms since the epoch. @throws UsageError. */
export function dateOption(ctx: CommandContext, name: string): number | undefined {
  const v = optionalString(ctx, name);
  if (v === undefined) return undefined;
  const t = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(t))
    throw new UsageError(`--${name} must be an ISO 8601 date, e.g. 2026-11-01 or 2026-11-01T00:00:00Z`);
  return t;
}

export function requireDate(ctx: CommandContext, name: string): number {
  const t = dateOption(ctx, name);
  if (t === undefined) throw new UsageError(`--${name} is required`);
  return t;
}

function readInputFile(option: string, path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new UsageError(`cannot read --${option} ${path}: ${fileReason(e)}`);
  }
}

/** `--document FILE` (hashed with SHA-256) or `--document-hash HEX`, exactly one. */
export function documentHash(ctx: CommandContext): Uint8Array {
  const file = optionalString(ctx, 'document');
  const hash = optionalString(ctx, 'document-hash');
  if ((file === undefined) === (hash === undefined))
    throw new UsageError(
      'give the warrant or order as --document FILE or its SHA-256 as --document-hash HEX',
    );
  if (file !== undefined) return sha256(readInputFile('document', file));
  if (!/^[0-9a-fA-F]{64}$/.test(hash!))
    throw new UsageError('--document-hash must be 64 hex digits (SHA-256)');
  return fromHex(hash!.toLowerCase());
}

export function justification(ctx: CommandContext): string {
  const text = optionalString(ctx, 'justification');
  const file = optionalString(ctx, 'justification-file');
  if ((text === undefined) === (file === undefined))
    throw new UsageError('give the justification as --justification TEXT or --justification-file FILE');
  let j: string;
  if (file !== undefined) {
    try {
      j = utf8Decode(readInputFile('justification-file', file));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`--justification-file ${file} is not UTF-8 text`);
    }
  } else j = text!;
  if (j.trim() === '') throw new UsageError('the justification is empty');
  if (utf8Encode(j).length > JUSTIFICATION_MAX)
    throw new UsageError(`the justification is longer than ${JUSTIFICATION_MAX} bytes`);
  return j;
}

function conversationIds(ctx: CommandContext): Uint8Array[] {
  return stringList(ctx, 'conversation').map((c) => {
    try {
      const id = fromBase64Url(c);
      if (id.length > 0) return id;
    } catch {
      // Reported below.
    }
    throw new UsageError(`--conversation ${JSON.stringify(c)} is not a conversation id (base64url)`);
  });
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Prints the anchors' provenance when they were not pinned. */
export function warnUnpinned(ctx: CommandContext, org: Org): void {
  if (org.from === 'relay' && !ctx.json)
    ctx.io.stderr(
      'note: the org keys were read from the relay itself (trust on first use); pin them with --org-anchors FILE\n',
    );
}

// ---- overt request file ----

const requestFile: Command = {
  path: ['request', 'file'],
  summary: 'file an access request: signed, its confidential part sealed to every trustee, logged',
  positionals: [],
  options: {
    ...requesterOptions,
    subject: {
      type: 'string',
      multiple: true,
      value: 'USER',
      description: 'a user whose messages are sought',
    },
    from: { type: 'string', value: 'DATE', description: 'start of the time window (ISO 8601, inclusive)' },
    until: { type: 'string', value: 'DATE', description: 'end of the time window (ISO 8601, exclusive)' },
    conversation: {
      type: 'string',
      multiple: true,
      value: 'ID',
      description: 'limit to this conversation (base64url; default: any)',
    },
    'max-envelopes': {
      type: 'string',
      value: 'N',
      description: "at most N envelopes (default: the policy's limit)",
    },
    'seal-until': {
      type: 'string',
      value: 'DATE',
      description: 'the subjects are not told before this date (default: --until + 90 days)',
    },
    'legal-basis': { type: 'string', value: 'TEXT', description: 'the legal basis (statute, court), public' },
    document: { type: 'string', value: 'FILE', description: 'the warrant or order: its SHA-256 is logged' },
    'document-hash': {
      type: 'string',
      value: 'HEX',
      description: "the document's SHA-256, instead of --document",
    },
    justification: {
      type: 'string',
      value: 'TEXT',
      description: 'why (sealed to the trustees until unseal)',
    },
    'justification-file': { type: 'string', value: 'FILE', description: 'the justification, from a file' },
    'case-ref': {
      type: 'string',
      value: 'TEXT',
      description: 'your case reference (sealed to the trustees)',
    },
    'no-relay-unseal': {
      type: 'boolean',
      description: "do not seal the opening to the relay's unseal key (the trustees unseal at the date)",
    },
  },
  details:
    'The request names the policy in force (read from the verified log) and is signed with the requester key;\n' +
    'its justification and case reference are committed to on the log and sealed to each trustee (access.md §2),\n' +
    "and to the relay's unseal key when it publishes one (unsealKey), so that the relay publishes them on the log\n" +
    'at the seal date (after-release.md §1); with --no-relay-unseal the trustees do, after their grace period.\n' +
    'Prints the request id and the log index of the request entry. The trustees then approve or deny it.',
  examples: [
    'overt request file --subject mallory --from 2026-11-01 --until 2026-12-01 --legal-basis "Court order 42/2026" --document order.pdf --justification "fraud investigation" --case-ref CASE-42',
    'overt request file --relay http://127.0.0.1:8420 --requester-key ./data/requester/secret.key --org-anchors org.json --subject mallory --subject eve --from 2026-11-01 --until 2026-12-01 --legal-basis "Court order 42/2026" --document-hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --justification-file why.txt --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const relay = relayOption(ctx);
      const subjects = subjectsOption(ctx);
      const from = requireDate(ctx, 'from');
      const until = requireDate(ctx, 'until');
      if (until <= from) throw new UsageError('--until must be after --from');
      const sealUntil = dateOption(ctx, 'seal-until') ?? until + 90 * DAY;
      const legalBasis = requireString(ctx, 'legal-basis');
      const docHash = documentHash(ctx);
      const confidential = {
        justification: justification(ctx),
        caseReference: optionalString(ctx, 'case-ref') ?? '',
      };
      const conversations = conversationIds(ctx);
      const maxOption = intOption(ctx, 'max-envelopes', 1, 0xffffffff);
      const keys = await readRequesterKeys(ctx);
      const org = await loadOrg(ctx, relay);
      warnUnpinned(ctx, org);
      const view = await logView(org);
      const policy = policyInForce(view, org);
      const requesterId = requesterIdOf(policy, keys);
      const built = await buildRequest({
        policy,
        requesterId,
        signingKey: keys.signingKey,
        legalBasis,
        documentHash: docHash,
        subjects,
        window: { from, until },
        conversations,
        maxEnvelopes: maxOption ?? policy.policy.limits.maxEnvelopes,
        sealUntil,
        createdAt: Date.now(),
        confidential,
        ...(org.unsealKey !== undefined && ctx.values['no-relay-unseal'] !== true
          ? { relayUnsealKey: org.unsealKey }
          : {}),
      });
      keys.encryption.secretKey.fill(0);
      const filed = await accessClient(relay, requesterId, keys).fileRequest(
        built.signed,
        built.sealed,
        built.relaySealed,
      );
      const relayUnseal = built.relaySealed !== undefined;
      const id = toBase64Url(filed.requestId);
      emit(
        ctx,
        {
          ok: true,
          requestId: id,
          index: filed.index,
          requester: requesterId,
          policySerial: policy.policy.serial,
          requestHash: toHex(built.verified.hash),
          sealUntil: iso(sealUntil),
          relayUnseal,
          anchors: org.from,
        },
        `filed request ${id} at log index ${filed.index} (requester ${printable(requesterId)}, policy serial ${policy.policy.serial})\n` +
          `sealed until ${iso(sealUntil)}; unsealed then by ${relayUnseal ? 'the relay' : 'the trustees'}\n` +
          `next: overt request status ${id}`,
      );
      return EXIT_OK;
    }),
};

// ---- overt request status ----

function statusJson(s: CheckedStatus) {
  const q = s.request.request;
  return {
    requestIndex: s.requestIndex,
    requester: q.requesterId,
    policySerial: s.policySerial,
    createdAt: iso(q.createdAt),
    legalBasis: q.legalBasis,
    documentHash: toHex(q.documentHash),
    subjects: q.subjects,
    from: iso(q.window.from),
    until: iso(q.window.until),
    conversations: q.conversations.map(toBase64Url),
    maxEnvelopes: q.maxEnvelopes,
    sealUntil: iso(q.sealUntil),
    threshold: s.policy.policy.threshold,
    trustees: s.policy.policy.trustees.length,
    decisions: s.decisions.map((d) => ({
      trustee: d.decision.decision.trusteeIndex,
      verdict: d.decision.decision.verdict,
      reason: d.decision.decision.reason,
      decidedAt: iso(d.decision.decision.decidedAt),
      index: d.index,
    })),
    execution:
      s.execution === undefined
        ? null
        : { index: s.execution.index, envelopes: s.execution.execution.execution.envelopeCount },
    releases: s.releases.map((r) => ({
      trustee: r.release.release.trusteeIndex,
      batch: r.batch,
      shares: r.release.release.shareCount,
      index: r.index,
    })),
    refusals: s.refusals.map((r) => ({
      trustee: r.refusal.refusal.trusteeIndex,
      clause: r.refusal.refusal.reason,
      ...(r.refusal.refusal.label !== undefined ? { label: toBase64(r.refusal.refusal.label) } : {}),
      index: r.index,
    })),
    status: s.status,
    relayStatus: s.relayStatus,
    unlisted: s.unlisted,
  };
}

function statusText(id: string, s: CheckedStatus, checkpointSize: number): string {
  const j = statusJson(s);
  const lines = [
    `request   ${id}  (log index ${j.requestIndex}, verified against a checkpoint of ${checkpointSize} entries)`,
    `status    ${j.status}${j.relayStatus !== j.status ? ` (the relay says ${j.relayStatus})` : ''}`,
    `requester ${printable(j.requester)}, policy serial ${j.policySerial}, filed ${j.createdAt}`,
    `basis     ${printable(j.legalBasis)}; document sha256 ${j.documentHash}`,
    `scope     ${j.subjects.map(printable).join(', ')} from ${j.from} until ${j.until}; ${
      j.conversations.length === 0 ? 'any conversation' : `conversations ${j.conversations.join(', ')}`
    }; at most ${j.maxEnvelopes} envelopes; sealed until ${j.sealUntil}`,
    `decisions ${j.decisions.length} (${j.threshold} of ${j.trustees} trustees must approve)`,
  ];
  for (const d of j.decisions)
    lines.push(
      `  trustee ${d.trustee} ${d.verdict === 'approve' ? 'approved' : 'denied'} at ${d.decidedAt} (index ${d.index})${
        d.reason !== '' ? `: ${printable(d.reason)}` : ''
      }`,
    );
  lines.push(
    j.execution === null
      ? 'execution none yet'
      : `execution ${j.execution.envelopes} envelopes (index ${j.execution.index})`,
  );
  for (const r of j.releases)
    lines.push(`  release: trustee ${r.trustee} batch ${r.batch}, ${r.shares} shares (index ${r.index})`);
  for (const r of j.refusals)
    lines.push(
      `  refusal: trustee ${r.trustee} refused under ${r.clause}${r.label ? ` envelope ${r.label}` : ' the whole request'} (index ${r.index})`,
    );
  if (j.unlisted > 0)
    lines.push(
      `WARNING   the log holds ${j.unlisted} entries about this request that the relay did not list`,
    );
  return lines.join('\n');
}

const requestStatus: Command = {
  path: ['request', 'status'],
  summary: "show a request's decisions, execution, releases and refusals, verified against the log",
  positionals: ['REQUEST_ID'],
  options: { ...requesterOptions },
  details:
    'Asks the relay what it recorded, then checks every object it lists against a verified view of the log\n' +
    '(checkpoint under the log key and the witness quorum, every entry re-hashed): the same bytes at the index\n' +
    "it gives, each signature and binding verified (REQ-2). The status is the log's: pending, executed, or denied\n" +
    '(more denials than n − k). A refusal names the release-rule clause (REL-1..REL-5) it was made under.',
  examples: [
    'overt request status hT3kZ0m1Qx6VbD2sY8pQ9A',
    'overt request status hT3kZ0m1Qx6VbD2sY8pQ9A --org-anchors org.json --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const requestId = requestIdArg(ctx.positionals[0]!);
      const relay = relayOption(ctx);
      const keys = await readRequesterKeys(ctx);
      keys.encryption.secretKey.fill(0);
      const org = await loadOrg(ctx, relay);
      warnUnpinned(ctx, org);
      const first = await logView(org);
      const client = accessClient(relay, requesterIdOf(policyInForce(first, org), keys), keys);
      const answer = await client.getRequest(requestId);
      const last = lastIndexOf(answer);
      const view = last < first.checkpoint.size ? first : await logView(org, last);
      if (last >= view.checkpoint.size) {
        emit(
          ctx,
          {
            ok: false,
            error: {
              code: 'ACCESS_NOT_LOGGED',
              check: 'REQ-2',
              message: `the relay names log index ${last}, but the verified log has ${view.checkpoint.size} entries`,
            },
          },
          `not yet on the log: the relay names log index ${last}, the latest verified checkpoint has ${view.checkpoint.size} entries; try again`,
        );
        return EXIT_FAILED;
      }
      const s = checkStatus(view, org, requestId, answer);
      const id = toBase64Url(requestId);
      emit(
        ctx,
        {
          ok: true,
          requestId: id,
          checkpointSize: view.checkpoint.size,
          anchors: org.from,
          ...statusJson(s),
        },
        statusText(id, s, view.checkpoint.size),
      );
      return EXIT_OK;
    }),
};

// ---- the case directory (collect's output, open's input) ----

/** The case directory `collect` writes (cli.md §9.2). */
interface CaseFile {
  readonly format: 'overt-case/1';
  readonly relay: string;
  readonly requestId: string;
  /** The signed note of the checkpoint the log view was verified against. */
  readonly checkpoint: string;
  readonly releases: readonly { trustee: number; batch: number; index: number; file: string }[];
  readonly envelopes: number;
}

const CASE_JSON = 'case.json';
const LOG_FILE = 'log.bin';

function writeFile(path: string, bytes: Uint8Array | string): void {
  writeFileSync(path, bytes, { mode: 0o600, flag: 'wx' });
}

/** A new directory (mode 0700), or an empty one. @throws UsageError. */
export function newDirectory(option: string, dir: string): string {
  const path = resolve(dir);
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
    if (readdirSync(path).length > 0) throw new UsageError(`--${option} ${dir} is not empty`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot create --${option} ${dir}: ${fileReason(e)}`);
  }
  return path;
}

export function encodeEntries(entries: readonly Uint8Array[]): Uint8Array {
  const total = entries.reduce((n, e) => n + 4 + e.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let at = 0;
  for (const e of entries) {
    dv.setUint32(at, e.length);
    out.set(e, at + 4);
    at += 4 + e.length;
  }
  return out;
}

/** log.bin: u32 length ‖ entry, repeated to the end (REQ-3). */
export function decodeEntries(bytes: Uint8Array): Uint8Array[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) caseInvalid(`${LOG_FILE} is truncated`);
    const n = dv.getUint32(at);
    if (n === 0 || at + 4 + n > bytes.length) caseInvalid(`${LOG_FILE} is truncated or holds an empty entry`);
    out.push(bytes.slice(at + 4, at + 4 + n));
    at += 4 + n;
  }
  return out;
}

/** What collect and open work from: the verified log view, the sealed bundles and the envelopes. */
export interface Downloaded {
  readonly requestId: Uint8Array;
  readonly view: LogView;
  readonly releases: readonly (SealedRelease & { readonly trustee: number })[];
  readonly envelopes: readonly CaseEnvelope[];
}

/** Downloads an executed request from the relay (with a progress bar on a terminal). */
export async function download(
  ctx: CommandContext,
  relay: string,
  org: Org,
  requestId: Uint8Array,
  keys: RequesterKeys,
): Promise<{ downloaded: Downloaded; status: CheckedStatus }> {
  const first = await logView(org);
  const client = accessClient(relay, requesterIdOf(policyInForce(first, org), keys), keys);
  const answer = await client.getRequest(requestId);
  const last = lastIndexOf(answer);
  const view = last < first.checkpoint.size ? first : await logView(org, last);
  if (last >= view.checkpoint.size)
    throw new UsageError(
      `the request's latest entry (index ${last}) is not yet on a verified checkpoint; try again in a moment`,
    );
  const status = checkStatus(view, org, requestId, answer);
  if (status.execution === undefined) throw new NotExecuted(status.status);
  const count = status.execution.execution.execution.envelopeCount;
  const bar = Progress.for(ctx, 'downloading', answer.releases.length + 2 * count);
  try {
    const releases: (SealedRelease & { trustee: number })[] = [];
    for (const r of answer.releases) {
      releases.push({
        trustee: r.trustee,
        index: r.index,
        batch: r.batch,
        sealed: await client.releaseBundle(requestId, r.trustee, r.batch),
      });
      bar.tick();
    }
    const envelopes: CaseEnvelope[] = [];
    let from: number | null = 0;
    while (from !== null) {
      const page = await client.envelopes(requestId, from, 1024);
      bar.tick(page.items.length);
      for (const e of page.items) {
        envelopes.push({
          position: e.position,
          head: e.head,
          ciphertext: await client.ciphertext(requestId, e.position),
        });
        bar.tick();
      }
      if (page.items.length === 0) break;
      from = page.next;
    }
    return {
      downloaded: { requestId, view, releases, envelopes },
      status,
    };
  } finally {
    bar.end();
  }
}

function notExecuted(ctx: CommandContext, name: string, e: NotExecuted): number {
  emit(
    ctx,
    { ok: false, error: { code: 'ACCESS_NOT_EXECUTED', message: e.message }, status: e.status },
    `overt request ${name}: ${e.message}`,
  );
  return EXIT_FAILED;
}

class NotExecuted extends Error {
  constructor(readonly status: string) {
    super(`the request is ${status}: there is nothing to collect before it is executed`);
  }
}

/** Writes the case directory (cli.md §9): everything downloaded, so that the checks can be repeated offline. */
export function saveCase(dir: string, relay: string, d: Downloaded): void {
  mkdirSync(join(dir, 'bundles'), { mode: 0o700 });
  mkdirSync(join(dir, 'envelopes'), { mode: 0o700 });
  writeFile(join(dir, LOG_FILE), encodeEntries(d.view.entries));
  const releases = d.releases.map((r) => {
    const file = `bundles/${r.trustee}-${r.batch}.sealed`;
    writeFile(join(dir, file), r.sealed);
    return { trustee: r.trustee, batch: r.batch, index: r.index, file };
  });
  for (const e of d.envelopes) {
    writeFile(join(dir, 'envelopes', `${e.position}.head`), e.head);
    writeFile(join(dir, 'envelopes', `${e.position}.ct`), e.ciphertext);
  }
  const c: CaseFile = {
    format: 'overt-case/1',
    relay,
    requestId: toBase64Url(d.requestId),
    checkpoint: formatCheckpoint(d.view.checkpoint),
    releases,
    envelopes: d.envelopes.length,
  };
  writeFile(join(dir, CASE_JSON), `${JSON.stringify(c, null, 2)}\n`);
}

export function verdictJson(v: MessageVerdict) {
  const bad = v.badShares.map((b) => ({ trustee: b.trustee, code: b.code, check: b.check }));
  if (!v.ok)
    return {
      position: v.position,
      ok: false as const,
      ...(v.messageId ? { messageId: toBase64Url(v.messageId) } : {}),
      code: v.code,
      check: v.check,
      reason: v.reason,
      badShares: bad,
    };
  return {
    position: v.position,
    ok: true as const,
    messageId: toBase64Url(v.messageId),
    sender: `${v.header.senderUserId}/${utf8Decode(v.header.senderDeviceId)}`,
    conversation: toBase64Url(v.header.conversationId),
    sendTime: iso(v.header.sendTime),
    contentType: v.content.contentType,
    bytes: v.content.payload.length,
    trustees: v.trustees,
    badShares: bad,
  };
}

/** One line per envelope, and one per bad share naming the trustee (ACC-A9). */
export function verdictLines(verdicts: readonly MessageVerdict[]): string[] {
  const lines: string[] = [];
  for (const v of verdicts) {
    const j = verdictJson(v);
    if (j.ok)
      lines.push(
        `  ${v.position}: opened  ${j.messageId} from ${printable(j.sender)} at ${j.sendTime}, ${j.bytes} bytes (trustees ${j.trustees.join(', ')})`,
      );
    else lines.push(`  ${v.position}: FAILED  ${j.code} [${j.check}]: ${printable(j.reason)}`);
    for (const b of v.badShares)
      lines.push(
        `     bad share from trustee ${b.trustee} [${b.check}]${v.ok ? ' (opened from the others)' : ''}`,
      );
  }
  return lines;
}

function collectSummary(c: Collected) {
  const opened = c.verdicts.filter((v) => v.ok).length;
  const badTrustees = [...new Set(c.verdicts.flatMap((v) => v.badShares.map((b) => b.trustee)))].sort(
    (a, b) => a - b,
  );
  return { envelopes: c.verdicts.length, opened, failed: c.verdicts.length - opened, badTrustees };
}

const requestCollect: Command = {
  path: ['request', 'collect'],
  summary: 'download an executed request, verify every share and open each envelope (no plaintext written)',
  positionals: ['REQUEST_ID'],
  options: {
    ...requesterOptions,
    out: {
      type: 'string',
      value: 'DIR',
      description: 'the case directory to write (new or empty, mode 0700)',
    },
  },
  details:
    "Downloads the verified log, each trustee's sealed share bundle and every envelope into DIR (the case), then\n" +
    'checks it all as access.md §8 says: the log objects, each bundle opened with the requester key, every share\n' +
    "verified against the epoch's key set — a bad share is reported with the trustee who released it (ACC-A9) —,\n" +
    'k shares combined and each envelope opened. Prints a verdict per envelope; no plaintext is written (that is\n' +
    "'overt request open', which writes the evidence bundle). Exit 1 when any envelope fails to open.",
  examples: [
    'overt request collect hT3kZ0m1Qx6VbD2sY8pQ9A --out ./case-42',
    'overt request collect hT3kZ0m1Qx6VbD2sY8pQ9A --out ./case-42 --org-anchors org.json --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const requestId = requestIdArg(ctx.positionals[0]!);
      const relay = relayOption(ctx);
      const out = newDirectory('out', requireString(ctx, 'out'));
      const org = await loadOrg(ctx, relay);
      warnUnpinned(ctx, org);
      const keys = await readRequesterKeys(ctx);
      let got: Awaited<ReturnType<typeof download>>;
      try {
        got = await download(ctx, relay, org, requestId, keys);
      } catch (e) {
        keys.encryption.secretKey.fill(0);
        if (!(e instanceof NotExecuted)) throw e;
        return notExecuted(ctx, 'collect', e);
      }
      saveCase(out, relay, got.downloaded);
      const c = await openCase(org, got.downloaded, keys.encryption.secretKey);
      const s = collectSummary(c);
      const id = toBase64Url(requestId);
      emit(
        ctx,
        { ok: s.failed === 0, requestId: id, case: out, ...s, verdicts: c.verdicts.map(verdictJson) },
        [
          `collected request ${id} into ${out}: ${s.opened} of ${s.envelopes} envelopes open`,
          ...verdictLines(c.verdicts),
          ...(s.badTrustees.length > 0
            ? [`WARNING   bad shares from trustee ${s.badTrustees.join(', ')} (ACC-A9)`]
            : []),
          ...(s.failed === 0 ? [`next: overt request open ${id} --case ${out} --out ./evidence-${id}`] : []),
        ].join('\n'),
      );
      return s.failed === 0 ? EXIT_OK : EXIT_FAILED;
    }),
};

/** Runs the library's collect over downloaded material; the secret key is zeroed after. */
export async function openCase(org: Org, d: Downloaded, secretKey: Uint8Array): Promise<Collected> {
  // Capsules, shares (a bad one names its trustee), combining and opening run on worker threads, one per core.
  const crypto = new PooledCaseCrypto();
  try {
    return await collect({
      orgKey: org.anchors.adminKey,
      relayKey: org.accessKey,
      requestId: d.requestId,
      log: d.view,
      releases: d.releases,
      envelopes: d.envelopes,
      secretKey,
      crypto,
    });
  } finally {
    secretKey.fill(0);
    await crypto.close();
  }
}

function caseInvalid(what: string): never {
  throw new ClientError('ACCESS_INVALID', `the case directory is malformed: ${what}`, { check: 'REQ-3' });
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * Parses case.json strictly (REQ-3): exactly the fields of cli.md §9 with their types; each bundle file named
 * `bundles/<trustee>-<batch>.sealed` by its own trustee and batch (so no path leaves the directory); at most one
 * release per (trustee, batch). ACCESS_INVALID REQ-3 otherwise.
 */
export function parseCaseFile(text: string): CaseFile {
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch {
    caseInvalid('case.json is not JSON');
  }
  const keys = ['format', 'relay', 'requestId', 'checkpoint', 'releases', 'envelopes'];
  if (typeof c !== 'object' || c === null || Array.isArray(c)) caseInvalid('case.json is not an object');
  const o = c as Record<string, unknown>;
  if (Object.keys(o).length !== keys.length || keys.some((k) => !(k in o)))
    caseInvalid(`case.json must have exactly ${keys.join(', ')}`);
  if (o.format !== 'overt-case/1') caseInvalid('unknown format');
  for (const k of ['relay', 'requestId', 'checkpoint'])
    if (typeof o[k] !== 'string') caseInvalid(`${k} is not a string`);
  if (!isCount(o.envelopes) || o.envelopes > 0xffffffff) caseInvalid('envelopes is not a count');
  if (!Array.isArray(o.releases) || o.releases.length > 255 * 4_194_304)
    caseInvalid('releases is not a list');
  const seen = new Set<string>();
  for (const r of o.releases as unknown[]) {
    const x = r as Record<string, unknown>;
    if (
      typeof r !== 'object' ||
      r === null ||
      Object.keys(x).length !== 4 ||
      !isCount(x.trustee) ||
      x.trustee < 1 ||
      x.trustee > 255 ||
      !isCount(x.batch) ||
      !isCount(x.index) ||
      x.file !== `bundles/${x.trustee}-${x.batch}.sealed`
    )
      caseInvalid('a release is not {trustee, batch, index, file: "bundles/<trustee>-<batch>.sealed"}');
    const key = `${x.trustee}-${x.batch}`;
    if (seen.has(key)) caseInvalid(`two releases of trustee ${x.trustee} for batch ${x.batch}`);
    seen.add(key);
  }
  return o as unknown as CaseFile;
}

/**
 * Reads a case directory back (REQ-3), re-verifying its checkpoint under the pinned anchors. A directory that
 * is not a case, or another request's: UsageError.
 */
export function loadCase(dir: string, org: Org, requestId: Uint8Array): Downloaded {
  let text: string;
  try {
    text = readFileSync(join(dir, CASE_JSON), 'utf8');
  } catch (e) {
    throw new UsageError(
      `--case ${dir} is not a case directory ('overt request collect' writes one): ${fileReason(e)}`,
    );
  }
  const c = parseCaseFile(text);
  if (c.requestId !== toBase64Url(requestId))
    throw new UsageError(`--case ${dir} is not the case of request ${toBase64Url(requestId)}`);
  const read = (f: string) => {
    try {
      return new Uint8Array(readFileSync(join(dir, f)));
    } catch (e) {
      throw new UsageError(`cannot read ${join(dir, f)}: ${fileReason(e)}`);
    }
  };
  let checkpoint: ReturnType<typeof verifyCheckpoint>;
  try {
    checkpoint = verifyCheckpoint(parseCheckpoint(c.checkpoint), logPolicyOf(org.anchors));
  } catch (e) {
    throw new ClientError(
      'KT_LOG_INVALID',
      "the case's checkpoint does not verify under the pinned log keys",
      {
        check: 'KT-2',
        cause: e,
      },
    );
  }
  return {
    requestId,
    view: { checkpoint, entries: decodeEntries(read(LOG_FILE)) },
    releases: c.releases.map((r) => ({
      trustee: r.trustee,
      batch: r.batch,
      index: r.index,
      sealed: read(r.file),
    })),
    envelopes: Array.from({ length: c.envelopes }, (_, p) => ({
      position: p,
      head: read(`envelopes/${p}.head`),
      ciphertext: read(`envelopes/${p}.ct`),
    })),
  };
}

// ---- overt request open ----

/** The hashes of a tree over `entries`, by level, for the receipts (log.md §7) of a case read offline. */
function memoryReader(entries: readonly Uint8Array[]): HashReader {
  const levels: Uint8Array[][] = [entries.map((e) => leafHash(e))];
  for (let l = 0; levels[l]!.length > 1; l++) {
    const below = levels[l]!;
    const up: Uint8Array[] = [];
    for (let i = 0; i + 1 < below.length; i += 2) up.push(nodeHash(below[i]!, below[i + 1]!));
    levels.push(up);
  }
  return {
    readHashes: (nodes) =>
      nodes.map((n) => {
        const h = levels[n.level]?.[n.index];
        if (h === undefined)
          throw new ClientError('ACCESS_INVALID', 'a receipt needs a node the case does not hold', {
            check: 'ACC-Q1',
          });
        return h;
      }),
  };
}

/**
 * Checks a case (openCase), makes the receipts of every entry it needs under its checkpoint, builds the evidence
 * bundle signed with the requester key, writes it to `out` (and `archive`), and verifies what was written with the
 * same anchors. The HPKE secret key is zeroed.
 */
export async function writeEvidence(
  org: Org,
  d: Downloaded,
  keys: RequesterKeys,
  out: string,
  archive?: string,
): Promise<{ collected: Collected; files: ReadonlyMap<string, Uint8Array>; report: EvidenceReport }> {
  const collected = await openCase(org, d, keys.encryption.secretKey);
  const checkpoint = formatCheckpoint(d.view.checkpoint);
  const receipts = await evidenceReceipts(
    evidenceIndices(collected),
    checkpoint,
    memoryReader(d.view.entries),
  );
  const anchors = evidenceAnchorsOf(org);
  const files = buildEvidenceFiles({
    collected,
    anchors,
    checkpoint,
    receipts,
    signingKey: keys.signingKey,
    createdAt: Date.now(),
  });
  await writeEvidenceDirectory(out, files);
  if (archive !== undefined) await writeEvidenceArchive(resolve(archive), files);
  return { collected, files, report: await verifyEvidenceWithWorkers(out, { anchors }) };
}

const requestOpen: Command = {
  path: ['request', 'open'],
  summary: 'write the evidence bundle of an executed request: every message opened, with its proofs',
  positionals: ['REQUEST_ID'],
  options: {
    ...requesterOptions,
    case: {
      type: 'string',
      value: 'DIR',
      description: "the case 'request collect' wrote (offline); default: download it from the relay",
    },
    out: {
      type: 'string',
      value: 'DIR',
      description: 'the evidence directory to write (new or empty, mode 0700)',
    },
    archive: {
      type: 'string',
      value: 'FILE',
      description: 'also write the bundle as one archive file (new)',
    },
  },
  details:
    'Runs every check of collect again (access.md §8), then writes the evidence bundle of evidence.md: the log\n' +
    'entries with a tlog-proof receipt each under one witnessed checkpoint, the sealed and opened share bundles,\n' +
    "every envelope, each message's text or file, and a manifest signed with the requester key. The bundle is\n" +
    "verified once written ('overt evidence verify' does the same offline). Refused (exit 1) when a message fails\n" +
    'its checks: a bundle a verifier would reject is not written.',
  examples: [
    'overt request open hT3kZ0m1Qx6VbD2sY8pQ9A --case ./case-42 --out ./evidence-42 --archive ./evidence-42.overt',
    'overt request open hT3kZ0m1Qx6VbD2sY8pQ9A --org-anchors org.json --out ./evidence-42 --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const requestId = requestIdArg(ctx.positionals[0]!);
      const relay = relayOption(ctx);
      const archive = optionalString(ctx, 'archive');
      if (archive !== undefined && existsSync(archive)) throw new UsageError(`--archive ${archive} exists`);
      const out = newDirectory('out', requireString(ctx, 'out'));
      const caseDir = optionalString(ctx, 'case');
      const org = await loadOrg(ctx, relay, caseDir === undefined);
      warnUnpinned(ctx, org);
      const keys = await readRequesterKeys(ctx);
      let d: Downloaded;
      try {
        d =
          caseDir !== undefined
            ? loadCase(caseDir, org, requestId)
            : (await download(ctx, relay, org, requestId, keys)).downloaded;
      } catch (e) {
        keys.encryption.secretKey.fill(0);
        if (!(e instanceof NotExecuted)) throw e;
        return notExecuted(ctx, 'open', e);
      }
      const { collected: c, files, report } = await writeEvidence(org, d, keys, out, archive);
      const id = toBase64Url(requestId);
      const s = collectSummary(c);
      emit(
        ctx,
        {
          ok: report.ok,
          requestId: id,
          evidence: out,
          ...(archive !== undefined ? { archive: resolve(archive) } : {}),
          files: files.size,
          ...s,
          verified: report.ok,
          failures: report.failures,
        },
        [
          `wrote the evidence of request ${id} to ${out}${archive !== undefined ? ` and ${resolve(archive)}` : ''}: ${files.size} files, ${s.opened} of ${s.envelopes} messages opened`,
          ...verdictLines(c.verdicts),
          report.ok
            ? 'verified: the bundle passes overt evidence verify'
            : 'FAILED: the written bundle does not verify',
          ...report.failures.map((f) => `  ${f.check}${f.file ? ` ${f.file}` : ''}: ${printable(f.reason)}`),
        ].join('\n'),
      );
      return report.ok ? EXIT_OK : EXIT_FAILED;
    }),
};

// ---- overt request extend ----

const requestExtend: Command = {
  path: ['request', 'extend'],
  summary: "propose pushing a request's seal date back; k trustees must sign it before the current date",
  positionals: ['REQUEST_ID'],
  options: {
    ...requesterOptions,
    until: { type: 'string', value: 'DATE', description: 'the new seal date (ISO 8601)' },
    reason: { type: 'string', value: 'TEXT', description: 'why, for the trustees (at most 1024 characters)' },
  },
  details:
    'The relay fixes the extension statement (after-release.md §2): its number (the logged extensions + 1), the\n' +
    'seal date in force it replaces, the new one, and the time. The statement is checked here against the\n' +
    'request on the verified log before it is shown. Nothing is logged until k trustees have signed it\n' +
    '(overt trustee extend), and only before the date in force; the policy bounds the number of extensions and\n' +
    'the seal length. Past the date the request is unsealed, or flagged as overdue.',
  examples: [
    'overt request extend hT3kZ0m1Qx6VbD2sY8pQ9A --until 2027-06-01 --reason "the investigation continues"',
    'overt request extend hT3kZ0m1Qx6VbD2sY8pQ9A --until 2027-06-01T00:00:00Z --reason "trial date set" --org-anchors org.json --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const requestId = requestIdArg(ctx.positionals[0]!);
      const newSealUntil = requireDate(ctx, 'until');
      const reason = requireString(ctx, 'reason');
      if (reason.length > 1024) throw new UsageError('--reason is at most 1024 characters');
      const relay = relayOption(ctx);
      const keys = await readRequesterKeys(ctx);
      keys.encryption.secretKey.fill(0);
      const org = await loadOrg(ctx, relay);
      warnUnpinned(ctx, org);
      const view = await logView(org);
      const policy = policyInForce(view, org);
      const client = accessClient(relay, requesterIdOf(policy, keys), keys);
      const answer = await client.proposeExtension(requestId, newSealUntil, reason);
      let s: ReturnType<typeof decodeExtensionStatement>;
      try {
        s = decodeExtensionStatement(answer.statement);
      } catch {
        throw new ClientError(
          'RELAY_RESPONSE_MALFORMED',
          'the relay answered a malformed extension statement',
        );
      }
      if (
        !equalBytes(s.requestId, requestId) ||
        s.newSealUntil !== newSealUntil ||
        s.number !== answer.number ||
        s.orgId !== policy.policy.orgId
      )
        throw new ClientError('RELAY_RESPONSE_MALFORMED', 'the extension statement is not the one asked for');
      const id = toBase64Url(requestId);
      const k = policy.policy.threshold;
      emit(
        ctx,
        {
          ok: true,
          requestId: id,
          number: s.number,
          oldSealUntil: iso(s.oldSealUntil),
          newSealUntil: iso(s.newSealUntil),
          issuedAt: iso(s.issuedAt),
          threshold: k,
          statement: toBase64(answer.statement),
        },
        `proposed extension ${s.number} of request ${id}: sealed until ${iso(s.oldSealUntil)} -> ${iso(s.newSealUntil)}\n` +
          `${k} of ${policy.policy.trustees.length} trustees must sign it (overt trustee extend ${id} --approve) before ${iso(s.oldSealUntil)}`,
      );
      return EXIT_OK;
    }),
};

export const requestCommands: readonly Command[] = [
  requestFile,
  requestStatus,
  requestCollect,
  requestOpen,
  requestExtend,
];
