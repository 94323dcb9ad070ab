/**
 * Standing orders for regulated record-keeping (docs/spec/after-release.md §8, cli.md §15): `overt order file`
 * files an order (request body version 2) over recorded users, or its renewal; `overt order status` shows, from
 * the verified log, the order, its decisions, every batch execution with its envelope count, each trustee's
 * release and refusals; `overt order archive` is the compliance archive: it collects every released batch, checks
 * it as `request collect` does, and keeps the opened messages encrypted at rest under the requester's key, with the
 * batch's case directory (evidence material); `overt order recorded` (org admin) signs a new policy serial that
 * adds users to or removes them from the recorded group.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildRequest,
  ClientError,
  type Collected,
  collectOrderBatch,
  RelayTransport,
  type RequestView,
} from '@overt/client';
import { PooledCaseCrypto } from '@overt/client/node';
import {
  concatBytes,
  decodeExecution,
  decodeRefusal,
  decodeRelease,
  decodeSigned,
  equalBytes,
  fromBase64,
  gcmOpenSync,
  gcmSealSync,
  type Policy,
  randomBytes,
  signPolicy,
  taggedHash,
  toBase64,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import { adminOptions, guarded, printable, readAdminKey } from './chat-commands.js';
import {
  type Command,
  type CommandContext,
  EXIT_OK,
  emit,
  intOption,
  optionalString,
  requireString,
  stringList,
  UsageError,
} from './command.js';
import {
  dateOption,
  documentHash,
  justification,
  requireDate,
  saveCase,
  verdictJson,
  warnUnpinned,
} from './request-commands.js';
import {
  accessClient,
  type CheckedStatus,
  checkStatus,
  loadOrg,
  logView,
  type Org,
  policyInForce,
  readRequesterKeys,
  relayOption,
  requesterIdOf,
  requesterOptions,
  requestIdArg,
  subjectsOption,
} from './requester.js';

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const EXECUTION_ENTRY = 7;
const RELEASE_ENTRY = 8;

// ---- overt order file ----

const orderFile: Command = {
  path: ['order', 'file'],
  summary: 'file a standing order over recorded users (or renew one): k trustees approve it, then it runs',
  positionals: [],
  options: {
    ...requesterOptions,
    subject: { type: 'string', multiple: true, value: 'USER', description: 'a recorded user (repeat)' },
    from: { type: 'string', value: 'DATE', description: 'start (ISO 8601; default now, or the renewed end)' },
    until: { type: 'string', value: 'DATE', description: 'end (ISO 8601, exclusive): the end date' },
    renews: {
      type: 'string',
      value: 'ORDER_ID',
      description: 'the order this one renews (starts at its end)',
    },
    'max-envelopes': { type: 'string', value: 'N', description: 'at most N envelopes per batch (≤ 1024)' },
    'legal-basis': {
      type: 'string',
      value: 'TEXT',
      description: 'the legal basis (e.g. MiFID II art. 16(7))',
    },
    document: { type: 'string', value: 'FILE', description: 'the order document: its SHA-256 is logged' },
    'document-hash': { type: 'string', value: 'HEX', description: "the document's SHA-256, instead" },
    justification: { type: 'string', value: 'TEXT', description: 'why (shown to the trustees)' },
    'justification-file': { type: 'string', value: 'FILE', description: 'the justification, from a file' },
    'case-ref': { type: 'string', value: 'TEXT', description: 'your reference' },
  },
  details:
    'A standing order (after-release.md §8.2) is a request of body version 2 over users of the recorded group of\n' +
    "the policy in force, for the window [--from, --until) — at most the policy's max order length. It is never\n" +
    'sealed: the recorded users were told at enrolment and their conversations show it. Once k trustees approve\n' +
    '(overt trustee review / approve), the relay executes it in batches as messages arrive and each trustee\n' +
    'releases every batch it finds in scope (ORD-S1). A renewal (--renews) starts exactly at the end of the order\n' +
    'it renews and needs k approvals again.',
  examples: [
    'overt order file --subject alice --until 2027-03-01 --legal-basis "MiFID II art. 16(7)" --document-hash 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 --justification "record-keeping of trading staff"',
    'overt order file --renews hT3kZ0m1Qx6VbD2sY8pQ9A --subject alice --until 2027-06-01 --legal-basis "MiFID II art. 16(7)" --document order.pdf --justification "renewal" --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const relay = relayOption(ctx);
      const subjects = subjectsOption(ctx);
      const until = requireDate(ctx, 'until');
      const legalBasis = requireString(ctx, 'legal-basis');
      const docHash = documentHash(ctx);
      const confidential = {
        justification: justification(ctx),
        caseReference: optionalString(ctx, 'case-ref') ?? '',
      };
      const maxOption = intOption(ctx, 'max-envelopes', 1, 1024);
      const renews = optionalString(ctx, 'renews');
      const keys = await readRequesterKeys(ctx);
      const org = await loadOrg(ctx, relay);
      warnUnpinned(ctx, org);
      const view = await logView(org);
      const policy = policyInForce(view, org);
      const requesterId = requesterIdOf(policy, keys);
      const client = accessClient(relay, requesterId, keys);
      let previous: { requestId: Uint8Array; hash: Uint8Array } | undefined;
      let from = dateOption(ctx, 'from') ?? Date.now();
      if (renews !== undefined) {
        const id = requestIdArg(renews);
        const prev = await client.getRequest(id);
        const checked = checkStatus(view, org, id, withoutExecutions(prev));
        if (checked.request.request.order === undefined)
          throw new UsageError('--renews names a request that is not a standing order');
        previous = { requestId: id, hash: checked.request.hash };
        from = checked.request.request.window.until;
      }
      if (until <= from) throw new UsageError('--until must be after the start of the order');
      const createdAt = Date.now();
      const built = await buildRequest({
        policy,
        requesterId,
        signingKey: keys.signingKey,
        legalBasis,
        documentHash: docHash,
        subjects,
        window: { from, until },
        maxEnvelopes: maxOption ?? Math.min(1024, policy.policy.limits.maxEnvelopes),
        sealUntil: createdAt,
        createdAt,
        confidential,
        order: previous !== undefined ? { previous } : {},
      });
      keys.encryption.secretKey.fill(0);
      const filed = await client.fileRequest(built.signed, built.sealed);
      const id = toBase64Url(filed.requestId);
      emit(
        ctx,
        {
          ok: true,
          orderId: id,
          index: filed.index,
          requester: requesterId,
          subjects: built.verified.request.subjects,
          from: iso(from),
          until: iso(until),
          ...(previous !== undefined ? { renews: toBase64Url(previous.requestId) } : {}),
          policySerial: policy.policy.serial,
          orderHash: toHex(built.verified.hash),
        },
        `filed standing order ${id} at log index ${filed.index} over ${built.verified.request.subjects.map(printable).join(', ')}\n` +
          `in force ${iso(from)} … ${iso(until)} once ${policy.policy.threshold} trustees approve` +
          `${previous !== undefined ? ` (renews ${toBase64Url(previous.requestId)})` : ''}\n` +
          `next: overt order status ${id}`,
      );
      return EXIT_OK;
    }),
};

/** The relay's view without executions and releases: checkStatus then checks the order, decisions, refusals. */
function withoutExecutions(r: RequestView): RequestView {
  const { execution: _x, batches: _b, ...rest } = r;
  return { ...rest, releases: [] };
}

// ---- overt order status ----

interface OrderStatus {
  readonly checked: CheckedStatus;
  readonly batches: readonly {
    readonly batch: number;
    readonly index: number;
    readonly envelopes: number;
    readonly releases: readonly { trustee: number; shares: number; index: number }[];
  }[];
  readonly refusals: readonly { trustee: number; clause: string; label?: string; index: number }[];
}

/**
 * Checks the relay's view of an order against the verified log (REQ-2 as `request status`): the order, its
 * decisions and refusals by checkStatus; each batch execution and release the relay lists is the entry at its
 * index, byte for byte, and a release names a listed batch's execution hash.
 */
function checkOrder(
  view: Awaited<ReturnType<typeof logView>>,
  org: Org,
  id: Uint8Array,
  r: RequestView,
): OrderStatus {
  const checked = checkStatus(view, org, id, withoutExecutions(r));
  if (checked.request.request.order === undefined)
    throw new ClientError('ACCESS_INVALID', 'the request is not a standing order', { check: 'REQ-2' });
  const notOnLog = (what: string, index: number): never => {
    throw new ClientError(
      'ACCESS_INVALID',
      `the relay lists ${what} at log index ${index}, but the log differs`,
      {
        check: 'REQ-2',
      },
    );
  };
  const batches = (r.batches ?? []).map((b) => {
    const e = view.entries[b.index];
    if (e === undefined || e[0] !== EXECUTION_ENTRY || !equalBytes(e.subarray(1), b.execution))
      notOnLog('a batch execution', b.index);
    const body = decodeSigned(b.execution, 1 << 16, 'EXECUTION_INVALID', 'WF-E1').body;
    const x = decodeExecution(body);
    if (x.batch !== b.batch || !equalBytes(x.requestId, id)) notOnLog('a batch execution', b.index);
    return {
      batch: b.batch,
      index: b.index,
      envelopes: x.envelopeCount,
      hash: executionHashOf(body),
      releases: [] as { trustee: number; shares: number; index: number }[],
    };
  });
  for (const rel of r.releases) {
    const e = view.entries[rel.index];
    if (e === undefined || e[0] !== RELEASE_ENTRY || !equalBytes(e.subarray(1), rel.release))
      notOnLog('a release', rel.index);
    const x = decodeRelease(decodeSigned(rel.release, 1 << 16, 'RELEASE_INVALID', 'WF-L1').body);
    const b = batches.find((y) => equalBytes(y.hash, x.executionHash));
    if (b === undefined || b.batch !== rel.batch) return notOnLog('a release', rel.index);
    b.releases.push({ trustee: x.trusteeIndex, shares: x.shareCount, index: rel.index });
  }
  const refusals = checked.refusals.map((f) => {
    const x = decodeRefusal(decodeSigned(f.refusal.signed, 1 << 16, 'REFUSAL_INVALID', 'WF-F1').body);
    return {
      trustee: x.trusteeIndex,
      clause: String(x.reason),
      ...(x.label !== undefined ? { label: toBase64Url(x.label) } : {}),
      index: f.index,
    };
  });
  return { checked, batches: batches.map(({ hash: _h, ...b }) => b), refusals };
}

function executionHashOf(body: Uint8Array): Uint8Array {
  return taggedHash('overt/workflow/v1/execution-hash', body);
}

function statusJson(id: string, s: OrderStatus, now: number) {
  const q = s.checked.request.request;
  const k = s.checked.policy.policy.threshold;
  const approvals = new Set(
    s.checked.decisions
      .filter((d) => d.decision.decision.verdict === 'approve')
      .map((d) => d.decision.decision.trusteeIndex),
  ).size;
  const approved = approvals >= k && s.checked.status !== 'denied';
  return {
    orderId: id,
    requester: q.requesterId,
    subjects: q.subjects,
    from: iso(q.window.from),
    until: iso(q.window.until),
    ...(q.order?.previous !== undefined ? { renews: toBase64Url(q.order.previous.requestId) } : {}),
    policySerial: s.checked.policySerial,
    threshold: k,
    approvals,
    state: !approved
      ? s.checked.status === 'denied'
        ? 'denied'
        : 'pending'
      : now < q.window.from
        ? 'approved'
        : now < q.window.until
          ? 'in-force'
          : 'ended',
    decisions: s.checked.decisions.map((d) => ({
      trustee: d.decision.decision.trusteeIndex,
      verdict: d.decision.decision.verdict,
      index: d.index,
    })),
    batches: s.batches,
    refusals: s.refusals,
    totals: {
      batches: s.batches.length,
      envelopes: s.batches.reduce((n, b) => n + b.envelopes, 0),
      shares: s.batches.reduce((n, b) => n + b.releases.reduce((m, r) => m + r.shares, 0), 0),
      refusals: s.refusals.length,
    },
    unlisted: Math.max(
      0,
      s.checked.unlisted - s.batches.length - s.batches.reduce((n, b) => n + b.releases.length, 0),
    ),
  };
}

async function orderView(ctx: CommandContext, id: Uint8Array) {
  const relay = relayOption(ctx);
  const keys = await readRequesterKeys(ctx);
  const org = await loadOrg(ctx, relay);
  warnUnpinned(ctx, org);
  const first = await logView(org);
  const client = accessClient(relay, requesterIdOf(policyInForce(first, org), keys), keys);
  const answer = await client.getRequest(id);
  const last = Math.max(
    answer.index,
    ...answer.decisions.map((d) => d.index),
    ...(answer.batches ?? []).map((b) => b.index),
    ...answer.releases.map((x) => x.index),
    ...answer.refusals.map((x) => x.index),
  );
  const view = last < first.checkpoint.size ? first : await logView(org, last);
  if (last >= view.checkpoint.size)
    throw new UsageError(
      `the order's latest entry (index ${last}) is not yet on a verified checkpoint; try again`,
    );
  return { relay, keys, org, client, answer, view, status: checkOrder(view, org, id, answer) };
}

const orderStatus: Command = {
  path: ['order', 'status'],
  summary: 'show a standing order: decisions, state, every batch with its count, releases and refusals',
  positionals: ['ORDER_ID'],
  options: { ...requesterOptions },
  details:
    "Reads the relay's record of the order and checks every object it lists against a verified view of the log\n" +
    "(REQ-2): the order, its decisions, each batch execution (its envelope count), each trustee's release (its\n" +
    'share count) and refusal (its clause, and the envelope it names: REL-4 covers ORD-S1, a user no longer in\n' +
    'the recorded group). State: pending, denied, approved (not yet started), in-force or ended.',
  examples: ['overt order status hT3kZ0m1Qx6VbD2sY8pQ9A', 'overt order status hT3kZ0m1Qx6VbD2sY8pQ9A --json'],
  run: (ctx) =>
    guarded(ctx, async () => {
      const id = requestIdArg(ctx.positionals[0]!);
      const v = await orderView(ctx, id);
      v.keys.encryption.secretKey.fill(0);
      const j = statusJson(toBase64Url(id), v.status, Date.now());
      const lines = [
        `order     ${j.orderId} (${j.state}; ${j.approvals} of ${j.threshold} approvals)`,
        `subjects  ${j.subjects.map(printable).join(', ')}`,
        `window    ${j.from} … ${j.until}${j.renews ? ` (renews ${j.renews})` : ''}`,
        ...j.decisions.map(
          (d) =>
            `  trustee ${d.trustee} ${d.verdict === 'approve' ? 'approved' : 'denied'} (index ${d.index})`,
        ),
        `batches   ${j.totals.batches}, ${j.totals.envelopes} envelopes, ${j.totals.shares} shares released`,
        ...j.batches.map(
          (b) =>
            `  batch ${b.batch}: ${b.envelopes} envelopes (index ${b.index}); ${b.releases.map((r) => `trustee ${r.trustee} ${r.shares} shares`).join(', ') || 'no release yet'}`,
        ),
        ...j.refusals.map(
          (r) =>
            `  refusal: trustee ${r.trustee} under ${r.clause}${r.label ? ` envelope ${r.label}` : ' the whole order'} (index ${r.index})`,
        ),
      ];
      emit(ctx, { ok: true, checkpointSize: v.view.checkpoint.size, ...j }, lines.join('\n'));
      return EXIT_OK;
    }),
};

// ---- overt order archive ----

const ARCHIVE_JSON = 'archive.json';
const MESSAGES_FILE = 'messages.bin';
const TAG_ARCHIVE_KEY = 'overt/order/v1/archive-key';

interface ArchiveFile {
  readonly format: 'overt-order-archive/1';
  readonly relay: string;
  readonly orderId: string;
  readonly batches: { batch: number; index: number; envelopes: number; opened: number; archivedAt: number }[];
}

/** The archive key: derived from the requester's HPKE secret key, so the archive opens with that key only. */
function archiveKey(secretKey: Uint8Array): Uint8Array {
  return taggedHash(TAG_ARCHIVE_KEY, secretKey);
}

/** One archived message: u32 len ‖ nonce (12) ‖ AES-256-GCM(key, nonce, aad = order id ‖ batch, JSON). */
function sealRecord(key: Uint8Array, orderId: Uint8Array, batch: number, json: unknown): Uint8Array {
  const nonce = randomBytes(12);
  const aad = concatBytes(orderId, Uint8Array.of(batch >>> 24, batch >>> 16, batch >>> 8, batch));
  const ct = gcmSealSync(key, nonce, aad, utf8Encode(JSON.stringify({ batch, ...(json as object) })));
  const out = new Uint8Array(4 + 4 + 12 + ct.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 4 + 12 + ct.length);
  dv.setUint32(4, batch);
  out.set(nonce, 8);
  out.set(ct, 20);
  return out;
}

/** Every archived message, opened with the key; a record that does not open is ORD_ARCHIVE_INVALID. */
function readRecords(dir: string, key: Uint8Array, orderId: Uint8Array): Record<string, unknown>[] {
  const path = join(dir, MESSAGES_FILE);
  if (!existsSync(path)) return [];
  const b = new Uint8Array(readFileSync(path));
  const out: Record<string, unknown>[] = [];
  let at = 0;
  while (at < b.length) {
    if (at + 4 > b.length) throw archiveInvalid();
    const len = new DataView(b.buffer, b.byteOffset + at, 4).getUint32(0);
    if (len < 16 + 16 || at + 4 + len > b.length) throw archiveInvalid();
    const batch = new DataView(b.buffer, b.byteOffset + at + 4, 4).getUint32(0);
    const nonce = b.subarray(at + 8, at + 20);
    const aad = concatBytes(orderId, b.subarray(at + 4, at + 8));
    const plain = gcmOpenSync(key, nonce, aad, b.subarray(at + 20, at + 4 + len));
    if (plain === null) throw archiveInvalid();
    const rec = JSON.parse(utf8Decode(plain)) as Record<string, unknown>;
    if (rec.batch !== batch) throw archiveInvalid();
    if (!out.some((o) => o.batch === rec.batch && o.position === rec.position)) out.push(rec);
    at += 4 + len;
  }
  return out;
}

function archiveInvalid(): ClientError {
  return new ClientError('ACCESS_INVALID', 'the archive does not open with this requester key', {
    check: 'ORD-A1',
  });
}

function loadArchive(dir: string, relay: string, orderId: string): ArchiveFile {
  const path = join(dir, ARCHIVE_JSON);
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return { format: 'overt-order-archive/1', relay, orderId, batches: [] };
  }
  let a: ArchiveFile;
  try {
    a = JSON.parse(readFileSync(path, 'utf8')) as ArchiveFile;
  } catch {
    throw new UsageError(`${path} is not an order archive`);
  }
  if (a.format !== 'overt-order-archive/1' || a.orderId !== orderId || !Array.isArray(a.batches))
    throw new UsageError(`${dir} is the archive of another order`);
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const orderArchive: Command = {
  path: ['order', 'archive'],
  summary: 'the compliance archive: collect every released batch of an order, kept encrypted at rest',
  positionals: ['ORDER_ID'],
  options: {
    ...requesterOptions,
    out: { type: 'string', value: 'DIR', description: 'the archive directory (created, mode 0700; reused)' },
    follow: { type: 'boolean', description: 'keep collecting new batches until the order ends' },
    interval: { type: 'string', value: 'MS', description: 'with --follow: poll every MS (default 1000)' },
    for: { type: 'string', value: 'MS', description: 'with --follow: stop after MS at the latest' },
    show: { type: 'boolean', description: 'print every archived message (opened from the archive)' },
  },
  details:
    'For each batch of the order with releases from k trustees that is not yet in DIR, downloads its bundles and\n' +
    'envelopes, checks everything as `overt request collect` does (the log, each bundle, every share against the\n' +
    "epoch's key set, k shares combined) and opens each envelope. The opened messages are appended to\n" +
    "DIR/messages.bin, each AES-256-GCM-sealed under a key derived from the requester's secret key (so the archive\n" +
    "is encrypted at rest and opens with that key only); DIR/batch-B/ keeps the batch's case (sealed bundles,\n" +
    'envelopes, the log view) for evidence. Without --follow one pass; with it, a pass every --interval.',
  examples: [
    'overt order archive hT3kZ0m1Qx6VbD2sY8pQ9A --out ./archive',
    'overt order archive hT3kZ0m1Qx6VbD2sY8pQ9A --out ./archive --follow --interval 500 --json',
    'overt order archive hT3kZ0m1Qx6VbD2sY8pQ9A --out ./archive --show',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const id = requestIdArg(ctx.positionals[0]!);
      const idText = toBase64Url(id);
      const dir = requireString(ctx, 'out');
      const follow = ctx.values.follow === true;
      const interval = intOption(ctx, 'interval', 10, 3_600_000) ?? 1000;
      const stopAt = Date.now() + (intOption(ctx, 'for', 1, 2 ** 31) ?? Number.POSITIVE_INFINITY);
      const relay = relayOption(ctx);
      const archive = loadArchive(dir, relay, idText);
      const added: { batch: number; envelopes: number; opened: number }[] = [];
      let secretKeyCopy: Uint8Array | undefined;
      for (;;) {
        let ended = false;
        try {
          const v = await orderView(ctx, id);
          secretKeyCopy ??= v.keys.encryption.secretKey.slice();
          const key = archiveKey(secretKeyCopy);
          const k = v.status.checked.policy.policy.threshold;
          // One worker pool per pass (starting one per batch costs more than a small batch's cryptography).
          let crypto: PooledCaseCrypto | undefined;
          try {
            for (const b of v.status.batches) {
              if (archive.batches.some((a) => a.batch === b.batch)) continue;
              if (new Set(b.releases.map((r) => r.trustee)).size < k) continue;
              crypto ??= new PooledCaseCrypto();
              const c: Collected = await collectOrderBatch(
                v.client,
                {
                  orgKey: v.org.anchors.adminKey,
                  relayKey: v.org.accessKey,
                  requestId: id,
                  log: v.view,
                  secretKey: secretKeyCopy.slice(),
                  crypto,
                },
                { batch: b.batch, index: b.index, envelopeCount: b.envelopes },
                v.answer.releases,
              );
              const caseDir = join(dir, `batch-${b.batch}`);
              if (!existsSync(caseDir)) {
                mkdirSync(caseDir, { mode: 0o700 });
                saveCase(caseDir, relay, {
                  requestId: id,
                  view: v.view,
                  // The sealed bundles as collected (checked against their release entries), for evidence.
                  releases: c.log.releases.map((r) => ({
                    trustee: r.release.release.trusteeIndex,
                    index: r.index,
                    batch: r.batch,
                    sealed: r.sealed,
                  })),
                  envelopes: c.envelopes,
                });
              }
              const now = Date.now();
              // The batch's records in one append, then archive.json: a pass that fails before the append redoes
              // the batch; one that fails between the two would append it twice (readers keep the first).
              const records = c.verdicts.flatMap((m) =>
                m.ok
                  ? [
                      sealRecord(key, id, b.batch, {
                        ...verdictJson(m),
                        payload: toBase64(m.content.payload),
                        archivedAt: now,
                      }),
                    ]
                  : [],
              );
              appendFileSync(join(dir, MESSAGES_FILE), concatBytes(...records), { mode: 0o600 });
              const opened = c.verdicts.filter((m) => m.ok).length;
              archive.batches.push({
                batch: b.batch,
                index: b.index,
                envelopes: b.envelopes,
                opened,
                archivedAt: now,
              });
              archive.batches.sort((x, y) => x.batch - y.batch);
              writeFileSync(join(dir, ARCHIVE_JSON), `${JSON.stringify(archive, null, 2)}\n`, {
                mode: 0o600,
              });
              added.push({ batch: b.batch, envelopes: b.envelopes, opened });
            }
          } finally {
            await crypto?.close();
          }
          ended = Date.now() >= v.status.checked.request.request.window.until;
        } catch (e) {
          // Following, a failed pass (the relay or the log briefly unreachable, a checkpoint not yet witnessed) is
          // retried at the next interval; batches already archived stay, a half-done one is redone.
          if (!follow) throw e;
          ctx.io.stderr(
            `overt order archive: a pass failed (${e instanceof Error ? e.message : 'error'}); retrying\n`,
          );
        }
        if (!follow || ended || Date.now() >= stopAt) break;
        await sleep(interval);
      }
      const shown =
        ctx.values.show === true && secretKeyCopy !== undefined
          ? readRecords(dir, archiveKey(secretKeyCopy), id)
          : undefined;
      secretKeyCopy?.fill(0);
      const total = archive.batches.reduce((n, b) => n + b.opened, 0);
      emit(
        ctx,
        {
          ok: true,
          orderId: idText,
          archive: dir,
          added,
          batches: archive.batches.length,
          messages: total,
          ...(shown !== undefined ? { shown } : {}),
        },
        [
          `archive ${dir}: ${archive.batches.length} batches, ${total} messages (${added.length} batches added now)`,
          ...(shown ?? []).map(
            (m) =>
              `  batch ${m.batch} ${m.sendTime} ${printable(String(m.sender))}: ${printable(utf8Decode(fromBase64(String(m.payload))))}`,
          ),
        ].join('\n'),
      );
      return EXIT_OK;
    }),
};

// ---- overt order recorded (org admin) ----

const orderRecorded: Command = {
  path: ['order', 'recorded'],
  summary: 'org admin: add users to or remove them from the recorded group (a new policy serial, logged)',
  positionals: [],
  options: {
    ...adminOptions,
    add: { type: 'string', multiple: true, value: 'USER', description: 'record this user (repeat)' },
    remove: {
      type: 'string',
      multiple: true,
      value: 'USER',
      description: 'stop recording this user (repeat)',
    },
    'max-order-days': { type: 'string', value: 'N', description: 'the longest order (default: kept, or 92)' },
    'org-anchors': requesterOptions['org-anchors'],
  },
  details:
    'Reads the policy in force from the verified log, and signs with the admin key the same policy with the next\n' +
    'serial, body version 2 (after-release.md §8.1), whose recorded group has the --add users and not the --remove\n' +
    'ones. The relay logs it (STORE-R-8); from its log position on, no trustee releases an envelope of a removed\n' +
    'user (ORD-S1), and every client shows conversations with a recorded user as recorded.',
  examples: [
    'overt order recorded --relay http://127.0.0.1:8420 --admin-key ./data/admin.key --add alice',
    'overt order recorded --relay http://127.0.0.1:8420 --admin-key ./data/admin.key --remove alice --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const relay = relayOption(ctx);
      const add = stringList(ctx, 'add');
      const remove = stringList(ctx, 'remove');
      if (add.length === 0 && remove.length === 0) throw new UsageError('give --add USER or --remove USER');
      if (add.some((u) => remove.includes(u))) throw new UsageError('a user is both added and removed');
      const days = intOption(ctx, 'max-order-days', 1, 3650);
      const admin = await readAdminKey(ctx);
      const org = await loadOrg(ctx, relay);
      const view = await logView(org);
      const current = policyInForce(view, org).policy;
      const group = new Set(current.recorded ?? []);
      for (const u of add) group.add(u);
      for (const u of remove) group.delete(u);
      const recorded = [...group].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const next: Policy = {
        ...current,
        version: 2,
        serial: current.serial + 1,
        issuedAt: Date.now(),
        recorded,
        maxOrderMs: days !== undefined ? days * DAY : current.maxOrderMs || 92 * DAY,
      };
      const transport = new RelayTransport({ url: relay, key: admin.keyPair, signer: { kind: 'admin' } });
      const r = await transport.publishPolicy(signPolicy(next, admin.keyPair));
      emit(
        ctx,
        { ok: true, serial: r.serial, index: r.logIndex, recorded },
        `published policy serial ${r.serial} at log index ${r.logIndex}; recorded: ${recorded.map(printable).join(', ') || '(nobody)'}`,
      );
      return EXIT_OK;
    }),
};

export const orderCommands: readonly Command[] = [orderFile, orderStatus, orderArchive, orderRecorded];
