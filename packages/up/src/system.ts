/**
 * The whole system on its embedded default (docs/spec/start.md): what `npm start` runs.
 *
 * This process runs the relay with the log's sequencer in it (the relay appends directory and epoch-key
 * statements through the sequencer and serves its tiles under /log/); two witnesses run as separate child
 * processes, each with its own key and data directory; three trustee daemons (@overt/trustee) run as child
 * processes too and make the epoch keys themselves over the relay's trustee mailbox (trustees.ts). Everything
 * lives under one data directory, SQLite throughout:
 *
 *   overt.json            org id and log origin, fixed on first start
 *   admin.key             the org admin's Ed25519 key (signed-note signer key format, mode 0600)
 *   log/log.key, log/log.sqlite
 *   relay/relay.sqlite, relay/franking.key, relay/access.key (the execution key, access.md §4.1),
 *   relay/unseal.key      the seed of the relay's X25519 unseal key (after-release.md §1, mode 0600)
 *   witness-1/, witness-2/   witness.key, witness.db (the witness package's layout)
 *   trustees/trustee-1..3/   each daemon's identity.json, vault.sqlite, api.token (access.md §6)
 *   trustees/vault-keys/     trustee-<i>.key: each vault's key (mode 0600; see trustees.ts for the honest limit)
 *   requester/secret.key     the local requester stand-in the policy names
 *
 * The relay starts listening first (the trustees need its mailbox and log; /.well-known/overt answers 503 until
 * start returns). Then the admin key signs the organisation's policy naming the trustees' public keys (policy.ts)
 * and the relay logs it; the trustees see it on the log with the witness quorum, run the DKG for the current and
 * the next epoch, and post the epoch keys they signed; start waits until both are on the log (DESIGN A14).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isOrgId, ORG_ID_MAX, toBase64 } from '@overt/core';
import { DEFAULT_HEARTBEAT_MS, isValidKeyName, parseVerifierKey, SIGNATURE_TYPE_ED25519 } from '@overt/log';
import { createLogHandler, type LogWitness, openSqliteStorage, Sequencer } from '@overt/log/service';
import {
  calendarMonthEpoch,
  createRelay,
  type EpochKeyRecord,
  RelayService,
  type RelayStorage,
  type RequestLogSink,
} from '@overt/server';
import { loadOrCreateKeyFile, submitToWitness } from '@overt/witness';
import { buildIsCurrent } from './child-entry.js';
import { StandaloneError } from './errors.js';
import { writeFileAtomic } from './files.js';
import { lockDataDir } from './lock.js';
import { ensurePolicy, type PolicyOutcome } from './policy.js';
import { loadRelayKeys } from './relay-keys.js';
import { stopRelay } from './relay-stop.js';
import { forkTrusteeChild, type TrusteeChildInfo } from './trustees.js';
import { defaultWebRoot } from './web-root.js';
import { buildWellKnown, type WellKnownDocument } from './well-known.js';

export const DEFAULT_PORT = 8420;
export const DEFAULT_ORG = 'overt.localhost';
export const WITNESS_COUNT = 2;
export const WITNESS_QUORUM = 2;
export const TRUSTEE_COUNT = 3;
const STATE_FILE = 'overt.json';

export interface SystemOptions {
  readonly dataDir: string;
  /** The built web app served at `/` (web.md §4); default packages/web/dist (web-root.ts). */
  readonly webRoot?: string;
  readonly host?: string;
  /** The relay's port; 0 picks a free one. */
  readonly port: number;
  /** The witnesses' ports (default: the relay's port + 1 and + 2, or free ones when the relay's is 0). */
  readonly witnessPorts?: readonly number[];
  /** The org id for a new data directory; must match the stored one otherwise. */
  readonly org?: string;
  /** How long to wait for the first checkpoint carrying the witness quorum (default 15 s). */
  readonly witnessedTimeoutMs?: number;
  /**
   * The log's heartbeat (start.md §1): how often the witnesses re-cosign the checkpoint when nothing was appended,
   * so that clients see a fresh view (A16). Default {@link DEFAULT_HEARTBEAT_MS}.
   */
  readonly heartbeatMs?: number;
  readonly now?: () => number;
  /** How long to wait for the trustees' epoch keys of the current and next epoch (default 120 s). */
  readonly epochKeysTimeoutMs?: number;
  /** One record per HTTP request the relay answers (start.md §1.1; main.ts writes them as JSON lines). */
  readonly requestLog?: RequestLogSink;
  /** How often the relay's unseal task runs (after-release.md §1), default the relay's 5,000 ms. */
  readonly unsealPollMs?: number;
}

export interface WitnessChildInfo {
  readonly url: string;
  readonly vkey: string;
  readonly pid: number;
  readonly dataDir: string;
}

export interface EpochKeyOutcome {
  readonly epoch: number;
  /** `reused`: on the log before this start; `generated`: the trustees made it during this start. */
  readonly status: 'reused' | 'generated';
  readonly record: EpochKeyRecord;
}

export interface RunningSystem {
  readonly url: string;
  readonly dataDir: string;
  readonly wellKnown: WellKnownDocument;
  readonly witnesses: readonly WitnessChildInfo[];
  readonly epochs: readonly EpochKeyOutcome[];
  /** The policy in force: logged on first start, reused after. */
  readonly policy: PolicyOutcome;
  readonly adminKeyPath: string;
  readonly adminKeyCreated: boolean;
  readonly trusteeDirs: readonly string[];
  /** The trustee daemons (child processes) and their operator APIs. */
  readonly trustees: readonly TrusteeChildInfo[];
  /** Whether the log's checkpoint carried the witness quorum before start returned. */
  readonly witnessed: boolean;
  readonly logSize: number;
  /** The pid of a dead start whose stale lock on the data directory was taken over (START-10), if any. */
  readonly staleLockFrom: number | undefined;
  /** Stops the relay, the log, the witness and trustee children; resolves once every child has exited. */
  close(): Promise<void>;
}

export interface State {
  readonly version: 1;
  readonly org: string;
  readonly origin: string;
}

function configError(message: string, cause?: unknown): StandaloneError {
  return new StandaloneError('START_CONFIG', message, { check: 'START-1', cause });
}

const ORG_ID_RULE = `1 to ${ORG_ID_MAX} printable ASCII characters without "+"`;

/**
 * The org ids start accepts (START-1): core's org id (foundations.md §8, the one envelope headers, workflow
 * objects, directory statements and DKG sessions take), which also names the log's and the admin's keys
 * (`<org>/log`, `<org>/admin`), so it must make a C2SP key name: no "+".
 */
export function isStartOrgId(org: string): boolean {
  return isOrgId(org) && isValidKeyName(`${org}/log`);
}

/** Reads overt.json, or writes it on first start. START-1 when `org` disagrees with the stored org. */
export function loadState(dataDir: string, org: string | undefined): State {
  const path = join(dataDir, STATE_FILE);
  if (existsSync(path)) {
    let state: State;
    try {
      state = JSON.parse(readFileSync(path, 'utf8')) as State;
    } catch (e) {
      throw configError(`${path} is not valid JSON`, e);
    }
    if (state.version !== 1 || typeof state.org !== 'string' || typeof state.origin !== 'string')
      throw configError(`${path} is not an Overt state file`);
    if (org !== undefined && org !== state.org)
      throw configError(
        `this data directory belongs to org ${state.org}; start without --org or use another --data`,
      );
    // A data directory written when start allowed longer org ids could never seal an envelope: say so at once.
    if (!isStartOrgId(state.org))
      throw configError(`${path} holds an org id that is not valid (${ORG_ID_RULE})`);
    return state;
  }
  const chosen = org ?? DEFAULT_ORG;
  if (!isStartOrgId(chosen)) throw configError(`the org id must be ${ORG_ID_RULE}`);
  const state: State = { version: 1, org: chosen, origin: `${chosen}/log` };
  writeFileAtomic(path, new TextEncoder().encode(`${JSON.stringify(state, null, 2)}\n`));
  return state;
}

/**
 * The witness child's entry: the compiled .js next to this file, or (running from the sources) the compiled .js
 * of dist/ when that build is current (child-entry.ts), else the .ts source under tsx.
 */
function childEntry(): { path: string; execArgv: string[]; env: NodeJS.ProcessEnv } {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const up = resolve(dirname(here), '..');
    const compiled = join(up, 'dist', 'witness-process.js');
    const packages = ['core', 'log', 'client', 'witness', 'server', 'up'].map((p) => resolve(up, '..', p));
    if (buildIsCurrent(compiled, packages)) return { path: compiled, execArgv: [], env: process.env };
    return {
      path: fileURLToPath(new URL('./witness-process.ts', import.meta.url)),
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        TSX_TSCONFIG_PATH: fileURLToPath(new URL('./tsconfig.run.json', import.meta.url)),
      },
    };
  }
  return {
    path: fileURLToPath(new URL('./witness-process.js', import.meta.url)),
    execArgv: [],
    env: process.env,
  };
}

/** Waits for a child to exit, sending SIGKILL after `graceMs`. */
function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}

function startWitnessChild(
  config: { dataDir: string; name: string; port: number; host: string; origin: string; logVkey: string },
  timeoutMs = 30_000,
): Promise<{ child: ChildProcess; info: WitnessChildInfo }> {
  const entry = childEntry();
  const child = fork(entry.path, [JSON.stringify(config)], {
    execArgv: entry.execArgv,
    env: entry.env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolveStart, reject) => {
    const fail = (message: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new StandaloneError('START_CHILD', message, { check: 'START-5' }));
    };
    const timer = setTimeout(() => fail(`witness ${config.name} did not start in time`), timeoutMs);
    child.once('exit', (code) => fail(`witness ${config.name} exited (code ${code})`));
    child.once(
      'message',
      (m: { type?: string; url?: string; vkey?: string; pid?: number; code?: string; message?: string }) => {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        if (m.type === 'error' && (m.code === 'EADDRINUSE' || /EADDRINUSE/.test(m.message ?? ''))) {
          child.kill('SIGKILL');
          reject(portInUse(config.host, config.port, 'witness'));
          return;
        }
        if (m.type !== 'listening' || !m.url || !m.vkey) {
          fail(`witness ${config.name} failed to start: ${m.message ?? 'no answer'}`);
          return;
        }
        resolveStart({
          child,
          info: { url: m.url, vkey: m.vkey, pid: child.pid ?? 0, dataDir: config.dataDir },
        });
      },
    );
  });
}

/**
 * Waits until the relay holds an epoch key for each of `epochs`, made by the trustee daemons; those present at
 * the first look were reused. START_STATE (START-4) when they do not appear in time or a trustee child dies.
 */
async function awaitEpochKeys(o: {
  readonly storage: RelayStorage;
  readonly epochs: readonly number[];
  readonly timeoutMs: number;
  readonly children: readonly ChildProcess[];
}): Promise<EpochKeyOutcome[]> {
  const present = new Set<number>();
  for (const e of o.epochs) if ((await o.storage.getEpochKey(e)) !== undefined) present.add(e);
  const until = Date.now() + o.timeoutMs;
  for (;;) {
    const records = await Promise.all(o.epochs.map((e) => o.storage.getEpochKey(e)));
    if (records.every((r) => r !== undefined))
      return records.map((record, i) => ({
        epoch: o.epochs[i]!,
        status: present.has(o.epochs[i]!) ? 'reused' : 'generated',
        record: record!,
      }));
    if (o.children.some((c) => c.exitCode !== null || c.signalCode !== null))
      throw new StandaloneError('START_CHILD', 'a trustee daemon exited before the epoch keys were made', {
        check: 'START-5',
      });
    if (Date.now() > until)
      throw new StandaloneError(
        'START_STATE',
        `the trustees did not publish the epoch keys of epochs ${o.epochs.join(', ')} in time; see their GET /v1/status`,
        { check: 'START-4' },
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** START-11: a port that is taken, named with the option that moves it. */
function portInUse(host: string, port: number, who: 'relay' | 'witness', cause?: unknown): StandaloneError {
  const how =
    who === 'relay'
      ? 'choose another with --port N (0 picks a free one)'
      : 'choose free ones with --witness-ports A,B (0 picks free ones), or another --port N (its witnesses use N+1 and N+2)';
  return new StandaloneError('START_PORT', `port ${port} on ${host} (the ${who}) is already in use; ${how}`, {
    check: 'START-11',
    cause,
  });
}

/**
 * Starts everything; on any failure stops what already runs and rethrows. Throws StandaloneError (START-*),
 * the log's, the witness's and the relay's own errors for their configuration problems.
 */
export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  const dataDir = resolve(options.dataDir);
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // One start per data directory (START-10), before anything in it is opened.
  const lock = lockDataDir(dataDir);

  const cleanups: (() => Promise<void>)[] = [async () => lock.release()];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    const state = loadState(dataDir, options.org);
    for (const d of ['log', 'relay']) mkdirSync(join(dataDir, d), { recursive: true, mode: 0o700 });
    const adminKeyPath = join(dataDir, 'admin.key');
    const admin = loadOrCreateKeyFile(
      adminKeyPath,
      SIGNATURE_TYPE_ED25519,
      `${state.org}/admin`,
      () => `${state.org}/admin`,
    );
    const { logKey, logVkey, franking, accessKey, unsealKey } = await loadRelayKeys(
      dataDir,
      state.org,
      state.origin,
    );

    // The trustee daemons are forked first, so that loading them overlaps with the rest; they get the relay's URL
    // once it listens (trustees.ts).
    const trusteesDir = join(dataDir, 'trustees');
    mkdirSync(trusteesDir, { recursive: true, mode: 0o700 });
    const forked = Array.from({ length: TRUSTEE_COUNT }, (_, i) =>
      forkTrusteeChild({ trusteesDir, index: i + 1 }),
    );
    cleanups.push(async () => {
      await Promise.all(forked.map((f) => stopChild(f.child)));
    });

    // The witnesses first: the sequencer needs their URLs and keys.
    const children: { child: ChildProcess; info: WitnessChildInfo }[] = [];
    cleanups.push(async () => {
      await Promise.all(children.map((c) => stopChild(c.child)));
    });
    const started = await Promise.allSettled(
      Array.from({ length: WITNESS_COUNT }, (_, i) =>
        startWitnessChild({
          dataDir: join(dataDir, `witness-${i + 1}`),
          name: `${state.org}/witness-${i + 1}`,
          port: options.witnessPorts?.[i] ?? (options.port === 0 ? 0 : options.port + 1 + i),
          host,
          origin: state.origin,
          logVkey,
        }),
      ),
    );
    for (const s of started) if (s.status === 'fulfilled') children.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;

    const witnesses: LogWitness[] = children.map(({ info }) => {
      const key = parseVerifierKey(info.vkey);
      return {
        key,
        addCheckpoint: (note, oldSize, prove, signal) =>
          submitToWitness(info.url, note, oldSize, prove, { witnessKey: key, signal }),
      };
    });
    const storage = openSqliteStorage({ path: join(dataDir, 'log', 'log.sqlite') });
    cleanups.push(async () => storage.close());
    const sequencer = await Sequencer.start({
      storage,
      origin: state.origin,
      key: logKey,
      witnesses,
      witnessQuorum: WITNESS_QUORUM,
      heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    });
    cleanups.push(() => sequencer.close());

    let wellKnown: WellKnownDocument | undefined;
    const relay = await createRelay({
      dataDir: join(dataDir, 'relay'),
      host,
      port: options.port,
      orgId: state.org,
      adminPublicKey: admin.key.publicKey,
      frankingKey: franking.keyPair,
      accessKey: accessKey.keyPair,
      unsealKey,
      ...(options.unsealPollMs !== undefined ? { unsealPollMs: options.unsealPollMs } : {}),
      log: sequencer,
      // Read-only: the relay is the log's only writer, through its checked admin statements (no POST add).
      logHandler: createLogHandler({ storage, prefix: '/log/' }),
      now,
      ...(options.requestLog !== undefined ? { requestLog: options.requestLog } : {}),
      webRoot: options.webRoot ?? defaultWebRoot(),
    });
    cleanups.push(() => stopRelay(relay));
    relay.app.get('/.well-known/overt', async (_req, reply) => {
      // The document names the listening URL, so it exists only once the relay listens.
      if (wellKnown === undefined) return reply.code(503).header('retry-after', '1').send();
      reply.header('cache-control', 'public, max-age=60');
      return wellKnown;
    });

    // The relay listens first: the trustees need its mailbox and its log.
    let url: string;
    try {
      url = await relay.start();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'EADDRINUSE') throw portInUse(host, options.port, 'relay', e);
      throw e;
    }

    const trusteeChildren: { child: ChildProcess; info: TrusteeChildInfo }[] = [];
    const anchors = {
      origin: state.origin,
      logVkey,
      witnessVkeys: children.map((c) => c.info.vkey),
      witnessQuorum: WITNESS_QUORUM,
      adminKey: toBase64(admin.key.publicKey),
      accessKey: toBase64(accessKey.publicKey),
    };
    const trusteeStarts = await Promise.allSettled(forked.map((f) => f.start(url, anchors)));
    for (const s of trusteeStarts) if (s.status === 'fulfilled') trusteeChildren.push(s.value);
    const trusteeFailed = trusteeStarts.find((s) => s.status === 'rejected');
    if (trusteeFailed) throw (trusteeFailed as PromiseRejectedResult).reason;
    const trusteeDirs = trusteeChildren.map((c) => c.info.dataDir);

    const service = new RelayService({
      storage: relay.storage,
      log: sequencer,
      hub: relay.hub,
      orgId: state.org,
      now,
    });
    const policy = await ensurePolicy({
      dataDir,
      orgId: state.org,
      admin: admin.key.keyPair,
      trustees: trusteeChildren.map((c) => c.info),
      witnessVkeys: children.map((c) => c.info.vkey),
      witnessQuorum: WITNESS_QUORUM,
      storage: relay.storage,
      service,
      now,
    });
    const current = calendarMonthEpoch(now());
    const epochs = await awaitEpochKeys({
      storage: relay.storage,
      epochs: [current, current + 1],
      timeoutMs: options.epochKeysTimeoutMs ?? 120_000,
      children: trusteeChildren.map((c) => c.child),
    });

    wellKnown = buildWellKnown({
      org: state.org,
      adminKey: admin.key.publicKey,
      origin: state.origin,
      logUrl: `${url}/log/`,
      logVkey,
      witnessVkeys: children.map((c) => c.info.vkey),
      witnessQuorum: WITNESS_QUORUM,
      frankingKey: franking.publicKey,
      accessKey: accessKey.publicKey,
      unsealKey: unsealKey.publicKey,
    });
    const logSize = sequencer.checkpoint.size;
    let witnessed = true;
    try {
      await sequencer.awaitWitnessed(logSize, options.witnessedTimeoutMs ?? 15_000);
    } catch {
      witnessed = false;
    }
    const doc = wellKnown;
    let closing: Promise<void> | undefined;
    return {
      url,
      dataDir,
      wellKnown: doc,
      witnesses: children.map((c) => c.info),
      epochs,
      policy,
      adminKeyPath,
      adminKeyCreated: admin.created,
      trusteeDirs,
      trustees: trusteeChildren.map((c) => c.info),
      witnessed,
      logSize,
      staleLockFrom: lock.staleFrom,
      close() {
        closing ??= cleanup();
        return closing;
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
