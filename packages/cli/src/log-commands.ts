/**
 * `overt log …`: run a standalone transparency log, and verify one from the outside.
 *
 *   overt log init        --data DIR --origin NAME                  create the log key, print the vkey
 *   overt log serve       --data DIR --port N --origin NAME [--witness URL=VKEY …] [--heartbeat SECONDS]
 *   overt log verify      URL --vkey VKEY [--witness VKEY …] [--quorum N] [--state FILE]
 *   overt log check-proof FILE --vkey VKEY [--witness VKEY …] [--quorum N] (--entry FILE | --leaf-hash B64)
 *   overt log stats       URL (--org-anchors FILE | --vkey VKEY [--witness VKEY …] --org-key B64 --access-key B64)
 *
 * `verify` and `check-proof` exit 1 when the log or the receipt fails verification, with the failing check's
 * code and ID in the output; their trust material (log key, witness keys, quorum) comes only from the command
 * line, never from what the log serves. Given the org's keys (--org-anchors, or --org-key with --access-key), `verify`
 * also reads the access workflow and lists overdue seals (OVD-1), and `stats` computes the public statistics of
 * after-release.md §5 from the verified entries alone (STAT-1); an overdue seal does not change the exit code.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AccessStats } from '@overt/client';
import { equalBytes, fromBase64, toBase64 } from '@overt/core';
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_MAX_AGE_SECONDS,
  decodeEntryBundle,
  decodeHashTile,
  encodeSplitViewEvidence,
  entryBundlePath,
  entryBundlesForSize,
  formatVerifierKey,
  isLogError,
  LogError,
  type LogPolicy,
  Monitor,
  type MonitorResult,
  makeWitnessPolicy,
  merkleTreeHash,
  parseNote,
  parseVerifierKey,
  requireFresh,
  rootOfLeafHashes,
  SIGNATURE_TYPE_ED25519,
  TileHashReader,
  tilePath,
  tilesForSize,
  tilesFromLeafHashes,
  type VerifiedCheckpoint,
  type VerifierKey,
  verifierKeyOf,
  verifyReceipt,
} from '@overt/log';
import type { LogWitness, SequencerEvent } from '@overt/log/service';
import { isWitnessError, loadOrCreateKeyFile, submitToWitness } from '@overt/witness';
import {
  type Command,
  type CommandContext,
  EXIT_FAILED,
  EXIT_OK,
  emit,
  intOption,
  optionalString,
  requireString,
  splitPair,
  stringList,
  UsageError,
} from './command.js';
import { logLevel, serviceLogger } from './service-log.js';
import { StateFile, StateFileError } from './state-file.js';
import { Progress } from './tty.js';

const LOG_KEY_FILE = 'log.key';
const LOG_DB_FILE = 'log.db';

// ---- shared option handling ----

function parseKey(option: string, text: string): VerifierKey {
  try {
    return parseVerifierKey(text);
  } catch (e) {
    throw new UsageError(`--${option}: not a valid vkey (${(e as Error).message})`);
  }
}

function isVkey(text: string): boolean {
  try {
    parseVerifierKey(text);
    return true;
  } catch {
    return false;
  }
}

/** The policy a verifier trusts, from --vkey, --origin, --witness and --quorum. @throws UsageError. */
function policyFromOptions(ctx: CommandContext): LogPolicy {
  const logKey = parseKey('vkey', requireString(ctx, 'vkey'));
  if (logKey.type !== SIGNATURE_TYPE_ED25519)
    throw new UsageError('--vkey must be an Ed25519 (type 0x01) log key');
  const witnesses = stringList(ctx, 'witness').map((w) => parseKey('witness', w));
  const quorum = intOption(ctx, 'quorum', 0, witnesses.length) ?? witnesses.length;
  let policy: LogPolicy['witnesses'];
  try {
    policy = makeWitnessPolicy(witnesses, quorum);
  } catch (e) {
    throw new UsageError(`--witness: ${(e as Error).message}`);
  }
  return { origin: optionalString(ctx, 'origin') ?? logKey.name, logKeys: [logKey], witnesses: policy };
}

const POLICY_OPTIONS = {
  vkey: { type: 'string', value: 'VKEY', description: "the log's checkpoint key (type 0x01 vkey)" },
  witness: {
    type: 'string',
    multiple: true,
    value: 'VKEY',
    description: 'a trusted witness key (type 0x04 vkey)',
  },
  quorum: { type: 'string', value: 'N', description: 'witness cosignatures required (default: all given)' },
  origin: {
    type: 'string',
    value: 'ORIGIN',
    description: "the log's origin line (default: the vkey's name)",
  },
} as const;

const ACCESS_OPTIONS = {
  'org-key': {
    type: 'string',
    value: 'B64',
    description: "the org (admin) key that signs the access policy (/.well-known/overt's admin_key)",
  },
  'access-key': {
    type: 'string',
    value: 'B64',
    description: "the relay's execution key (/.well-known/overt's accessKey)",
  },
  now: {
    type: 'string',
    value: 'ISO',
    description: 'the time seals are judged at (default: now), e.g. 2027-02-01T00:00:00Z',
  },
  'org-anchors': {
    type: 'string',
    value: 'FILE',
    description:
      "a saved /.well-known/overt: the log's key, witnesses and quorum, the org key and the relay's execution key (instead of --vkey … --access-key)",
  },
} as const;

function errorJson(e: LogError): { code: string; check?: string; message: string } {
  return { code: e.code, ...(e.check ? { check: e.check } : {}), message: e.message };
}

function cosignaturesJson(cp: VerifiedCheckpoint): { name: string; vkey: string; timestamp: number }[] {
  return cp.cosignatures.map((c) => ({
    name: c.key.name,
    vkey: formatVerifierKey(c.key),
    timestamp: c.timestamp,
  }));
}

function startupFailure(ctx: CommandContext, e: unknown): number {
  const message = e instanceof Error ? e.message : String(e);
  const code = isWitnessError(e) || isLogError(e) ? e.code : 'STARTUP';
  if (ctx.json) ctx.io.stdout(`${JSON.stringify({ ok: false, error: { kind: 'config', code, message } })}\n`);
  ctx.io.stderr(`overt: ${message}\n`);
  return EXIT_FAILED;
}

// ---- overt log init ----

function loadLogKey(dataDir: string, origin: string) {
  // The log's key is named after its origin (tlog-checkpoint: the origin identifies the log and its key).
  return loadOrCreateKeyFile(join(dataDir, LOG_KEY_FILE), SIGNATURE_TYPE_ED25519, origin, () => origin);
}

const init: Command = {
  path: ['log', 'init'],
  summary: "create the log's checkpoint key in a data directory (if missing) and print its vkey",
  positionals: [],
  options: {
    data: { type: 'string', value: 'DIR', description: 'data directory (created with mode 0700)' },
    origin: { type: 'string', value: 'NAME', description: "the log's origin line, e.g. log.example.org" },
  },
  details:
    'The key is kept in DIR/log.key (mode 0600), the C2SP signed-note signer key format, Ed25519 type 0x01.',
  examples: ['overt log init --data ./data/log --origin log.example.org'],
  async run(ctx) {
    const dir = requireString(ctx, 'data');
    const origin = requireString(ctx, 'origin');
    let loaded: ReturnType<typeof loadLogKey>;
    try {
      loaded = loadLogKey(dir, origin);
    } catch (e) {
      return startupFailure(ctx, e);
    }
    const vkey = formatVerifierKey(verifierKeyOf(loaded.key));
    emit(ctx, { ok: true, origin, vkey, created: loaded.created }, vkey);
    return EXIT_OK;
  },
};

// ---- overt log serve ----

/** `URL=VKEY` → a witness the sequencer asks, over HTTP, through @overt/witness's client. @throws UsageError. */
function witnessFromPair(pair: string): LogWitness {
  const [url, vkey] = splitPair('witness', pair, isVkey);
  if (!/^https?:\/\//.test(url))
    throw new UsageError(`--witness ${pair}: the URL must be http:// or https://`);
  const key = parseKey('witness', vkey);
  return {
    key,
    addCheckpoint: (note, oldSize, prove, signal) =>
      submitToWitness(url, note, oldSize, prove, { witnessKey: key, signal }),
  };
}

const serve: Command = {
  path: ['log', 'serve'],
  summary: 'run a standalone transparency log (C2SP tlog-tiles) that has its checkpoints witnessed',
  positionals: [],
  options: {
    data: {
      type: 'string',
      value: 'DIR',
      description: 'data directory: log.key (made on first start), log.db',
    },
    port: { type: 'string', value: 'N', description: 'TCP port; 0 picks a free one (printed)' },
    origin: { type: 'string', value: 'NAME', description: "the log's origin line, e.g. log.example.org" },
    witness: {
      type: 'string',
      multiple: true,
      value: 'URL=VKEY',
      description: 'a witness to ask for cosignatures',
    },
    quorum: {
      type: 'string',
      value: 'N',
      description: 'cosignatures that make a checkpoint witnessed (default: all)',
    },
    host: { type: 'string', value: 'HOST', description: 'interface to listen on (default 127.0.0.1)' },
    prefix: {
      type: 'string',
      value: 'PATH',
      description: 'URL prefix, starting and ending with / (default /)',
    },
    'append-token': {
      type: 'string',
      value: 'TOKEN',
      description: 'require Authorization: Bearer TOKEN on POST add',
    },
    heartbeat: {
      type: 'string',
      value: 'SECONDS',
      description: `re-witness the checkpoint this often when nothing is appended; 0: never (default ${DEFAULT_HEARTBEAT_MS / 1000})`,
    },
  },
  details:
    'Serves GET <prefix>checkpoint and <prefix>tile/… (C2SP tlog-tiles) and POST <prefix>add (one entry; answers\n' +
    'with a C2SP tlog-proof receipt; ?wait=witnessed waits for the witness quorum). Each new checkpoint is sent to\n' +
    'every witness (C2SP tlog-witness) and published with the cosignatures it collected. Prints the URL and the\n' +
    "log's vkey at start; logs one JSON line (pino, stderr) per published checkpoint; answers GET /healthz. Stops\n" +
    'cleanly on SIGINT or SIGTERM (exit 0). On a heartbeat\n' +
    '(--heartbeat) the unchanged checkpoint is sent to the witnesses again, so its cosignatures carry a fresh time\n' +
    'and clients can tell their view of the log is current; those republications print nothing.',
  examples: [
    'overt log serve --data ./data/log --port 7370 --origin log.example.org \\\n' +
      '    --witness http://127.0.0.1:7380=witness1.example.org+fc67e47d+BH2hBB2TaW+qsdR/kqEm+YG5CBTw8ajSl13qop3jZjYa',
  ],
  async run(ctx) {
    const dataDir = requireString(ctx, 'data');
    const origin = requireString(ctx, 'origin');
    const port = intOption(ctx, 'port', 0, 65535);
    if (port === undefined) throw new UsageError('--port is required');
    const witnesses = stringList(ctx, 'witness').map(witnessFromPair);
    const quorum = intOption(ctx, 'quorum', 0, witnesses.length);
    const host = optionalString(ctx, 'host');
    const prefix = optionalString(ctx, 'prefix');
    const token = optionalString(ctx, 'append-token');
    const heartbeat = intOption(ctx, 'heartbeat', 0, 86_400);
    const log = serviceLogger('log', logLevel(ctx));
    let last = '';
    const onStep = (e: SequencerEvent): void => {
      if (e.step !== 'checkpoint-published' || e.note === undefined) return;
      // Every signature line but the log's own is a verified cosignature (the sequencer keeps only those).
      const cosigned = parseNote(e.note).signatures.length - 1;
      // A heartbeat republishes the same checkpoint with fresher cosignatures: one line per change only.
      if (`${e.size}/${cosigned}` === last) return;
      last = `${e.size}/${cosigned}`;
      log.info({ size: e.size, cosignatures: cosigned }, 'published');
    };
    // Loaded here, not at the top: the service brings the database drivers, which no other command needs.
    const { serveLog } = await import('@overt/log/service');
    let key: ReturnType<typeof loadLogKey>;
    let served: Awaited<ReturnType<typeof serveLog>>;
    try {
      key = loadLogKey(dataDir, origin);
      served = await serveLog({
        database: join(dataDir, LOG_DB_FILE),
        key: key.key,
        origin,
        port,
        witnesses,
        onStep,
        heartbeatMs: heartbeat === undefined ? DEFAULT_HEARTBEAT_MS : heartbeat * 1000,
        ...(quorum !== undefined ? { witnessQuorum: quorum } : {}),
        ...(host !== undefined ? { host } : {}),
        ...(prefix !== undefined ? { prefix } : {}),
        ...(token !== undefined ? { appendToken: token } : {}),
      });
    } catch (e) {
      if (e instanceof UsageError) throw e;
      return startupFailure(ctx, e);
    }
    const vkey = formatVerifierKey(verifierKeyOf(key.key));
    const names = witnesses.map((w) => w.key.name);
    emit(
      ctx,
      { event: 'listening', url: served.url, origin, vkey, keyCreated: key.created, witnesses: names },
      `log ${origin} listening on ${served.url}\nvkey ${vkey}${key.created ? ' (new key)' : ''}\n` +
        `witnesses: ${names.length === 0 ? 'none' : names.join(', ')}`,
    );
    log.info({ url: served.url, origin, vkey }, 'listening');
    await ctx.io.stopped;
    await served.close();
    log.info('stopped');
    emit(ctx, { event: 'stopped' }, 'log stopped');
    return EXIT_OK;
  },
};

// ---- overt log verify ----

/** GETs `<base>/<path>`; a non-2xx answer is TILE_UNAVAILABLE, like the monitor's own reads. */
function tileFetcher(base: string): (path: string) => Promise<Uint8Array> {
  const prefix = base.replace(/\/+$/, '');
  return async (path) => {
    const res = await fetch(`${prefix}/${path}`);
    if (!res.ok) {
      await res.body?.cancel();
      throw new LogError('TILE_UNAVAILABLE', `the log answered ${res.status} for ${path}`, {
        check: 'TILE-4',
      });
    }
    return new Uint8Array(await res.arrayBuffer());
  };
}

/**
 * Recomputes the whole tree from the log's hash tiles: the level-0 tiles are the leaf hashes; every tile of
 * every level must equal the one recomputed from them (tlog-tiles), and their root the checkpoint's. Returns the
 * number of tiles checked. Throws LogError (TILE_UNAVAILABLE, TILE_MALFORMED).
 */
async function recomputeFromTiles(ctx: CommandContext, url: string, cp: VerifiedCheckpoint): Promise<number> {
  const reader = new TileHashReader(cp.size, tileFetcher(url));
  const tiles = tilesForSize(cp.size);
  const served = new Map<string, Uint8Array[]>();
  const bar = Progress.for(ctx, 'hash tiles', tiles.length);
  try {
    for (let i = 0; i < tiles.length; i += 16) {
      const batch = tiles.slice(i, i + 16);
      const got = await Promise.all(batch.map((t) => reader.tile(t)));
      for (const [j, t] of batch.entries()) served.set(tilePath(t), got[j]!);
      bar.tick(batch.length);
    }
  } finally {
    bar.end();
  }
  const leaves = tiles.filter((t) => t.level === 0).flatMap((t) => served.get(tilePath(t))!);
  if (leaves.length !== cp.size || !equalBytes(rootOfLeafHashes(leaves), cp.rootHash))
    throw new LogError('TILE_MALFORMED', 'the leaf hash tiles do not hash to the checkpoint root', {
      check: 'TILE-2',
    });
  for (const { tile, data } of tilesFromLeafHashes(leaves)) {
    const expected = decodeHashTile(data, tile.width);
    const got = served.get(tilePath(tile));
    if (
      got === undefined ||
      got.length !== expected.length ||
      got.some((h, k) => !equalBytes(h, expected[k]!))
    )
      throw new LogError('TILE_MALFORMED', `tile ${tilePath(tile)} does not match the tree`, {
        check: 'TILE-2',
      });
  }
  return tiles.length;
}

type VerifyFailure = { kind: string; error: LogError; evidence?: string };

/**
 * `--max-age SECONDS|off` (default {@link DEFAULT_MAX_AGE_SECONDS}); undefined for off. Freshness is judged from
 * witness timestamps, so with a quorum of 0 it needs an explicit `off` (FRESH-2). @throws UsageError.
 */
function maxAgeOption(ctx: CommandContext, policy: LogPolicy): number | undefined {
  if (optionalString(ctx, 'max-age') === 'off') return undefined;
  const maxAge = intOption(ctx, 'max-age', 0, 10 * 365 * 86_400) ?? DEFAULT_MAX_AGE_SECONDS;
  if (policy.witnesses.quorum === 0)
    throw new UsageError(
      'with --quorum 0 no witness timestamp shows the checkpoint is current: give --max-age off to skip that check',
    );
  return maxAge;
}

function failureOf(r: Exclude<MonitorResult, { kind: 'ok' }>): VerifyFailure {
  if (r.kind === 'split_view')
    return { kind: r.kind, error: r.error, evidence: encodeSplitViewEvidence(r.evidence) };
  return { kind: r.kind, error: r.error };
}

const verify: Command = {
  path: ['log', 'verify'],
  summary:
    'verify a remote log end to end: signature, witness quorum, consistency, tree recomputed from tiles',
  positionals: ['URL'],
  options: {
    ...POLICY_OPTIONS,
    ...ACCESS_OPTIONS,
    state: {
      type: 'string',
      value: 'FILE',
      description: 'remember the checkpoint; next run proves the log only grew',
    },
    'max-age': {
      type: 'string',
      value: 'SECONDS|off',
      description: `oldest the newest quorum cosignature may be (default ${DEFAULT_MAX_AGE_SECONDS})`,
    },
  },
  details:
    'Without --witness it refuses unless --quorum 0 --max-age off asks for the log alone (no split-view protection).\n' +
    'Checks, in order: the checkpoint is signed by --vkey for the origin; at least --quorum of the --witness keys\n' +
    'cosigned it, the quorum-th newest of them at most --max-age seconds ago (a log or relay that keeps showing\n' +
    'an old checkpoint hides what was appended since; cosignatures dated over 60 s ahead do not count); it is consistent with the checkpoint saved in --state (a consistency proof built from the\n' +
    "log's tiles); the new entries hash to its root; every hash tile recomputed from the leaf hashes matches the\n" +
    'served one. The state file is updated only when every check passed. A split view prints self-verifying\n' +
    'evidence (two log-signed checkpoints and a proof).\n' +
    'With the org keys (--org-anchors FILE, or --org-key and --access-key) it also reads every entry and lists each\n' +
    'overdue seal — a request past its seal date with neither an unseal nor an extension on the log — as\n' +
    '`overdue seal: request ID since TIME` (--json: `overdue`); the exit code stays 0 (after-release.md §3).',
  examples: [
    'overt log verify http://127.0.0.1:7370/ --vkey log.example.org+ecf125ce+AQdwNLquGzXysulsmPm+Cuz2AE19qDL/O9dnsarFXKJ9 \\\n' +
      '    --witness witness1.example.org+fc67e47d+BH2hBB2TaW+qsdR/kqEm+YG5CBTw8ajSl13qop3jZjYa --quorum 1 --state ./log-state.json',
  ],
  async run(ctx) {
    const url = ctx.positionals[0]!;
    const trust = verifierTrust(ctx, url);
    const now = nowOption(ctx);
    if (trust.access === undefined && ctx.values.now !== undefined)
      throw new UsageError(
        '--now judges seals: give the org keys too (--org-anchors, or --org-key and --access-key)',
      );
    const checked = await checkRemoteLog(ctx, url, trust.policy);
    if (checked.failure !== undefined) return reportFailure(ctx, trust.policy, checked.failure);
    const { result, previous, tiles, age, maxAge } = checked;
    // OVD-1 (after-release.md §3): with the org's keys, the access workflow is read too and overdue seals listed.
    let overdue: OverdueLine[] | null = null;
    if (trust.access !== undefined) {
      const view = await readLogView(ctx, url, result.checkpoint);
      if ('failure' in view) return reportFailure(ctx, trust.policy, view.failure);
      const { computeAccessStats } = await import('@overt/client');
      overdue = overdueLines(computeAccessStats(view, trust.access, now));
    }
    checked.state.commit();
    const cp = result.checkpoint;
    const out = {
      ok: true,
      origin: cp.origin,
      size: cp.size,
      root: toBase64(cp.rootHash),
      cosignatures: cosignaturesJson(cp),
      quorum: trust.policy.witnesses.quorum,
      age: age ?? null,
      maxAge: maxAge ?? null,
      previousSize: previous === undefined ? null : result.previousSize,
      newEntries: result.newEntries,
      tilesChecked: tiles,
      overdue,
    };
    const human = [
      `ok ${cp.origin}: size ${cp.size}, root ${toBase64(cp.rootHash)}`,
      `  signed by ${formatVerifierKey(cp.logKey)}`,
      `  cosigned by ${cp.cosignatures.length} trusted witness(es), quorum ${trust.policy.witnesses.quorum}` +
        (cp.cosignatures.length ? `: ${cp.cosignatures.map((c) => c.key.name).join(', ')}` : ''),
      age === undefined
        ? '  age not checked (--max-age off)'
        : `  the newest quorum of cosignatures is ${age} s old (at most ${maxAge} s allowed)`,
      previous === undefined
        ? '  no saved checkpoint to compare with'
        : `  consistent with the saved checkpoint of size ${result.previousSize}`,
      `  ${result.newEntries} new entries hashed; tree recomputed from ${tiles} hash tile(s)`,
      ...(overdue === null
        ? []
        : [
            `  access workflow read (${cp.size} entries): ${overdue.length} overdue seal(s)`,
            ...overdue.map(overdueText),
          ]),
    ];
    emit(ctx, out, human.join('\n'));
    return EXIT_OK;
  },
};

// ---- shared by verify and stats: the checks of `overt log verify`, the whole entries, the org's access keys ----

type Checked =
  | { failure: VerifyFailure }
  | {
      failure?: undefined;
      result: Extract<MonitorResult, { kind: 'ok' }>;
      state: StateFile;
      previous: unknown;
      tiles: number;
      age: number | undefined;
      maxAge: number | undefined;
    };

/**
 * The checks of `overt log verify`, in order: checkpoint signature and witness quorum, consistency with --state,
 * the new entries hashed to the root (the monitor), freshness (FRESH-1, --max-age), every hash tile recomputed. The
 * state file is not written: the caller commits it once everything it checks has passed. @throws UsageError.
 */
async function checkRemoteLog(ctx: CommandContext, url: string, policy: LogPolicy): Promise<Checked> {
  const maxAge = maxAgeOption(ctx, policy);
  let state: StateFile;
  try {
    state = new StateFile(optionalString(ctx, 'state'));
  } catch (e) {
    if (e instanceof StateFileError) throw new UsageError(e.message);
    throw e;
  }
  const previous = state.previous(policy.origin);
  const monitor = new Monitor({ policy, url, fetch: (u) => fetch(u), store: state });
  let result: MonitorResult;
  try {
    result = await monitor.update();
  } catch (e) {
    if (e instanceof StateFileError || isLogError(e, 'MONITOR_STATE'))
      throw new UsageError((e as Error).message);
    throw e;
  }
  if (result.kind !== 'ok') return { failure: failureOf(result) };
  let tiles = 0;
  let age: number | undefined;
  try {
    // FRESH-1 (log.md §4.1): the view must be current, not merely consistent.
    if (maxAge !== undefined)
      age = requireFresh(result.checkpoint, policy.witnesses.quorum, Math.floor(Date.now() / 1000), {
        maxAgeSeconds: maxAge,
      }).ageSeconds;
    tiles = await recomputeFromTiles(ctx, url, result.checkpoint);
  } catch (e) {
    if (!isLogError(e)) throw e;
    const kind =
      e.code === 'CHECKPOINT_STALE'
        ? 'stale'
        : e.code === 'TILE_MALFORMED'
          ? 'tiles_mismatch'
          : 'unavailable';
    return { failure: { kind, error: e } };
  }
  return { result, state, previous, tiles, age, maxAge };
}

function reportFailure(ctx: CommandContext, policy: LogPolicy, failure: VerifyFailure): number {
  const out = {
    ok: false,
    origin: policy.origin,
    failure: failure.kind,
    error: errorJson(failure.error),
    ...(failure.evidence ? { evidence: JSON.parse(failure.evidence) } : {}),
  };
  const human = [`FAILED ${policy.origin}: ${failure.kind}: ${failure.error.message}`];
  if (failure.evidence) human.push(`evidence: ${failure.evidence}`);
  emit(ctx, out, human.join('\n'));
  return EXIT_FAILED;
}

/**
 * Every entry of the verified checkpoint `cp`, read from the log's entry bundles (tlog-tiles), whose RFC 6962 tree
 * must be the checkpoint's root: the log view the access workflow is read from (after-release.md §5).
 */
async function readLogView(
  ctx: CommandContext,
  url: string,
  cp: VerifiedCheckpoint,
): Promise<{ checkpoint: VerifiedCheckpoint; entries: Uint8Array[] } | { failure: VerifyFailure }> {
  const get = tileFetcher(url);
  const bundles = entryBundlesForSize(cp.size);
  const entries: Uint8Array[] = [];
  const bar = Progress.for(ctx, 'entry bundles', bundles.length);
  try {
    for (let i = 0; i < bundles.length; i += 16) {
      const batch = bundles.slice(i, i + 16);
      const got = await Promise.all(batch.map((b) => get(entryBundlePath(b))));
      for (const [j, b] of batch.entries()) entries.push(...decodeEntryBundle(got[j]!, b.width));
      bar.tick(batch.length);
    }
    if (entries.length !== cp.size || !equalBytes(merkleTreeHash(entries), cp.rootHash))
      throw new LogError('MONITOR_ENTRIES_MISMATCH', 'the entry bundles do not hash to the checkpoint root', {
        check: 'MON-3',
      });
  } catch (e) {
    if (!isLogError(e)) throw e;
    return {
      failure: { kind: e.code === 'MONITOR_ENTRIES_MISMATCH' ? 'entries_mismatch' : 'unavailable', error: e },
    };
  } finally {
    bar.end();
  }
  return { checkpoint: cp, entries };
}

/** The org's keys a reader of the access workflow needs (after-release.md §5). */
interface AccessTrust {
  readonly orgKey: Uint8Array;
  readonly relayKey: Uint8Array;
  readonly orgId?: string;
}

/** `--now ISO` (default: the clock), the time seals are judged at. @throws UsageError. */
function nowOption(ctx: CommandContext): number {
  const text = optionalString(ctx, 'now');
  if (text === undefined) return Date.now();
  const now = Date.parse(text);
  if (!Number.isSafeInteger(now) || now < 0) throw new UsageError('--now must be an ISO 8601 time');
  return now;
}

function key32(option: string, text: string): Uint8Array {
  let k: Uint8Array;
  try {
    k = fromBase64(text);
  } catch {
    throw new UsageError(`--${option} must be base64`);
  }
  if (k.length !== 32) throw new UsageError(`--${option} must be a 32-byte key`);
  return k;
}

/**
 * The verifier's trust material, all from the command line: `--org-anchors FILE` alone, or --vkey, --witness,
 * --quorum, --origin with, for the access workflow, both --org-key and --access-key. @throws UsageError.
 */
function verifierTrust(ctx: CommandContext, url: string): { policy: LogPolicy; access?: AccessTrust } {
  if (!/^https?:\/\//.test(url)) throw new UsageError('URL must be http:// or https://');
  const file = optionalString(ctx, 'org-anchors');
  if (file !== undefined) {
    const mixed = ['vkey', 'witness', 'quorum', 'origin', 'org-key', 'access-key'].filter(
      (o) => ctx.values[o] !== undefined,
    );
    if (mixed.length > 0)
      throw new UsageError(`--org-anchors gives every key; leave out --${mixed.join(', --')}`);
    return anchorsTrust(file);
  }
  // Without witnesses the log's own signature is all there is, and a log (or relay) can sign a different history
  // for each verifier (DESIGN A16, split view): never the default, only asked for by name.
  if (stringList(ctx, 'witness').length === 0 && optionalString(ctx, 'quorum') !== '0')
    throw new UsageError(
      "no --witness given: only witness cosignatures show everyone sees the same log; give the witnesses' keys, or --quorum 0 --max-age off to check the log alone",
    );
  const policy = policyFromOptions(ctx);
  const orgKey = optionalString(ctx, 'org-key');
  const accessKey = optionalString(ctx, 'access-key');
  if ((orgKey === undefined) !== (accessKey === undefined))
    throw new UsageError('the access workflow needs both --org-key and --access-key');
  if (orgKey === undefined || accessKey === undefined) return { policy };
  return { policy, access: { orgKey: key32('org-key', orgKey), relayKey: key32('access-key', accessKey) } };
}

/** The trust material of a saved `/.well-known/overt` (start.md §2, plus `accessKey`). @throws UsageError. */
function anchorsTrust(file: string): { policy: LogPolicy; access: AccessTrust } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`--org-anchors ${file} is not a readable JSON file (${(e as Error).message})`);
  }
  const log = doc?.log as Record<string, unknown> | undefined;
  const witnesses = log?.witness_vkeys;
  if (
    typeof doc?.org !== 'string' ||
    typeof doc.admin_key !== 'string' ||
    typeof doc.accessKey !== 'string' ||
    typeof log?.vkey !== 'string' ||
    typeof log.origin !== 'string' ||
    !Array.isArray(witnesses) ||
    witnesses.some((w) => typeof w !== 'string') ||
    !Number.isSafeInteger(log.witness_quorum)
  )
    throw new UsageError(
      `--org-anchors ${file} is not a /.well-known/overt with org, admin_key, accessKey and log keys`,
    );
  const logKey = parseKey('org-anchors', log.vkey);
  if (logKey.type !== SIGNATURE_TYPE_ED25519)
    throw new UsageError('--org-anchors: the log key must be an Ed25519 (type 0x01) key');
  let policyWitnesses: LogPolicy['witnesses'];
  try {
    policyWitnesses = makeWitnessPolicy(
      (witnesses as string[]).map((w) => parseKey('org-anchors', w)),
      log.witness_quorum as number,
    );
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--org-anchors: ${(e as Error).message}`);
  }
  return {
    policy: { origin: log.origin, logKeys: [logKey], witnesses: policyWitnesses },
    access: {
      orgKey: key32('org-anchors admin_key', doc.admin_key),
      relayKey: key32('org-anchors accessKey', doc.accessKey),
      orgId: doc.org,
    },
  };
}

/** One overdue seal as `overt log verify` and `overt log stats` list it (after-release.md §3). */
interface OverdueLine {
  readonly requestId: string;
  readonly sealUntil: number;
  readonly since: string;
  readonly overdueMs: number;
}

function overdueLines(stats: AccessStats): OverdueLine[] {
  return stats.seals.overdue.map((o) => ({ ...o, since: isoTime(o.sealUntil) }));
}

function overdueText(o: OverdueLine): string {
  return `overdue seal: request ${o.requestId} since ${o.since}`;
}

function isoTime(ms: number): string {
  return ms <= 8_640_000_000_000_000 ? new Date(ms).toISOString() : `${ms} ms`;
}

// ---- overt log stats ----

const stats: Command = {
  path: ['log', 'stats'],
  summary:
    'public statistics of exceptional access from a verified log: requests, approvals, releases, seals',
  positionals: ['URL'],
  options: {
    ...POLICY_OPTIONS,
    ...ACCESS_OPTIONS,
    state: {
      type: 'string',
      value: 'FILE',
      description: 'remember the checkpoint; next run proves the log only grew',
    },
    'max-age': {
      type: 'string',
      value: 'SECONDS|off',
      description: `oldest the newest quorum cosignature may be (default ${DEFAULT_MAX_AGE_SECONDS})`,
    },
  },
  details:
    'Verifies the log exactly as `overt log verify` does (exit 1 on any failure), reads every entry of the\n' +
    'checkpoint and counts, from those entries alone, the access workflow: requests, approvals, denials, executions,\n' +
    'envelopes selected and released, releases, refusals, extensions, unseals and shreds, per requester and per UTC\n' +
    'month; seals due and overdue; shredded epochs. Only entries that verify under the policy in force at their\n' +
    'position count (the others are counted as invalid). Anyone reading the same checkpoint gets the same numbers\n' +
    '(docs/spec/after-release.md §5). An overdue seal (a request past its seal date with neither an unseal nor an\n' +
    'extension) prints `overdue seal: request ID since TIME` and is listed in --json under seals.overdue; it is a\n' +
    'finding about the organisation, not a failure of the log: the exit code stays 0.',
  examples: [
    'overt log stats http://127.0.0.1:8080/log/ --org-anchors ./org.json',
    'overt log stats http://127.0.0.1:7370/ --vkey log.example.org+ecf125ce+AQdwNLquGzXysulsmPm+Cuz2AE19qDL/O9dnsarFXKJ9 \\\n' +
      '    --witness witness1.example.org+fc67e47d+BH2hBB2TaW+qsdR/kqEm+YG5CBTw8ajSl13qop3jZjYa \\\n' +
      '    --org-key ORG_KEY_B64 --access-key ACCESS_KEY_B64 --now 2027-02-01T00:00:00Z --json',
  ],
  async run(ctx) {
    const url = ctx.positionals[0]!;
    const trust = verifierTrust(ctx, url);
    if (trust.access === undefined)
      throw new UsageError('give the org keys: --org-anchors FILE, or --org-key and --access-key');
    const now = nowOption(ctx);
    const checked = await checkRemoteLog(ctx, url, trust.policy);
    if (checked.failure !== undefined) return reportFailure(ctx, trust.policy, checked.failure);
    const view = await readLogView(ctx, url, checked.result.checkpoint);
    if ('failure' in view) return reportFailure(ctx, trust.policy, view.failure);
    const { computeAccessStats } = await import('@overt/client');
    const s = computeAccessStats(view, trust.access, now);
    checked.state.commit();
    emit(ctx, { ok: true, ...s }, statsText(s));
    return EXIT_OK;
  },
};

function table(head: readonly string[], rows: readonly (readonly (string | number)[])[]): string[] {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const width = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map(
    (r) => `  ${r.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ')}`,
  );
}

/** The statistics as people read them: totals, two tables, seals and epochs. */
function statsText(s: AccessStats): string {
  const t = s.totals;
  const lines = [
    `ok ${s.checkpoint.origin}: size ${s.checkpoint.size}, root ${s.checkpoint.rootHash}, at ${isoTime(s.now)}`,
    `requests ${t.requests}, approvals ${t.approvals}, denials ${t.denials}, executions ${t.executions}`,
    `envelopes selected ${t.envelopesSelected}, released ${t.envelopesReleased} (${t.releases} release entries)`,
    `refusals ${t.refusals} (${t.refusedEnvelopes} envelope(s) refused), extensions ${t.extensions}, unseals ${t.unseals}, shreds ${t.shreds}`,
    `entries that count for nothing: ${t.invalid} invalid, ${t.repeats} repeated`,
  ];
  const requesters = Object.entries(s.byRequester);
  if (requesters.length > 0)
    lines.push(
      'by requester:',
      ...table(
        ['requester', 'requests', 'approvals', 'denials', 'executions', 'released', 'refusals'],
        requesters.map(([id, r]) => [
          id,
          r.requests,
          r.approvals,
          r.denials,
          r.executions,
          r.envelopesReleased,
          r.refusals,
        ]),
      ),
    );
  const months = Object.entries(s.byMonth);
  if (months.length > 0)
    lines.push(
      'by month (UTC):',
      ...table(
        [
          'month',
          'requests',
          'approvals',
          'denials',
          'executions',
          'released',
          'refusals',
          'extensions',
          'unseals',
        ],
        months.map(([m, r]) => [
          m,
          r.requests,
          r.approvals,
          r.denials,
          r.executions,
          r.envelopesReleased,
          r.refusals,
          r.extensions,
          r.unseals,
        ]),
      ),
    );
  lines.push(
    `seals: ${s.seals.sealed} sealed (${s.seals.due.length} due, ${s.seals.overdue.length} overdue), ${s.seals.unsealed} unsealed`,
  );
  for (const d of s.seals.due) lines.push(`  due: request ${d.requestId} at ${isoTime(d.sealUntil)}`);
  for (const o of overdueLines(s)) lines.push(overdueText(o));
  for (const e of s.epochs)
    lines.push(
      `epoch ${e.epoch}: ${e.shredded ? 'shredded' : 'not shredded'} (shreds by trustee(s) ${e.shreddedBy.join(', ')})`,
    );
  return lines.join('\n');
}

// ---- overt log check-proof ----

function readInput(option: string, path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new UsageError(`${option}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

const checkProof: Command = {
  path: ['log', 'check-proof'],
  summary: 'check a C2SP tlog-proof receipt offline: checkpoint signature, witness quorum, inclusion',
  positionals: ['FILE'],
  options: {
    ...POLICY_OPTIONS,
    entry: { type: 'string', value: 'FILE', description: 'the entry the receipt is for (its raw bytes)' },
    'leaf-hash': { type: 'string', value: 'BASE64', description: "or the entry's RFC 6962 leaf hash" },
  },
  details:
    'A tlog-proof holds an index, an inclusion proof and the cosigned checkpoint, but not the entry itself:\n' +
    'give it with --entry (or its leaf hash with --leaf-hash). No network is used.',
  examples: [
    'overt log check-proof receipt.tlog-proof --entry entry.bin \\\n' +
      '    --vkey log.example.org+ecf125ce+AQdwNLquGzXysulsmPm+Cuz2AE19qDL/O9dnsarFXKJ9 \\\n' +
      '    --witness witness1.example.org+fc67e47d+BH2hBB2TaW+qsdR/kqEm+YG5CBTw8ajSl13qop3jZjYa --quorum 1',
  ],
  async run(ctx) {
    const policy = policyFromOptions(ctx);
    const entryPath = optionalString(ctx, 'entry');
    const leafText = optionalString(ctx, 'leaf-hash');
    if ((entryPath === undefined) === (leafText === undefined))
      throw new UsageError(
        'give exactly one of --entry FILE or --leaf-hash BASE64 (a tlog-proof does not contain the entry)',
      );
    let subject: { entry: Uint8Array } | { leafHash: Uint8Array };
    if (entryPath !== undefined) subject = { entry: readInput('--entry', entryPath) };
    else {
      let h: Uint8Array;
      try {
        h = fromBase64(leafText!);
      } catch {
        throw new UsageError('--leaf-hash must be base64');
      }
      if (h.length !== 32) throw new UsageError('--leaf-hash must be a 32-byte hash');
      subject = { leafHash: h };
    }
    const receipt = readInput('FILE', ctx.positionals[0]!);
    try {
      const r = verifyReceipt(receipt, subject, policy);
      const out = {
        ok: true,
        origin: r.checkpoint.origin,
        index: r.index,
        size: r.checkpoint.size,
        root: toBase64(r.checkpoint.rootHash),
        leafHash: toBase64(r.leafHash),
        cosignatures: cosignaturesJson(r.checkpoint),
        quorum: policy.witnesses.quorum,
      };
      emit(
        ctx,
        out,
        `ok: entry ${r.index} is in ${r.checkpoint.origin} at size ${r.checkpoint.size}, ` +
          `cosigned by ${r.checkpoint.cosignatures.length} trusted witness(es) (quorum ${policy.witnesses.quorum})`,
      );
      return EXIT_OK;
    } catch (e) {
      if (!isLogError(e)) throw e;
      emit(ctx, { ok: false, origin: policy.origin, error: errorJson(e) }, `FAILED: ${e.message}`);
      return EXIT_FAILED;
    }
  },
};

export const logCommands: readonly Command[] = [init, serve, verify, checkProof, stats];
