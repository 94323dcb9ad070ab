/**
 * One trustee daemon (docs/spec/access.md §6): its vault, its operator API on 127.0.0.1, its log monitor and its
 * ceremony engine, with the relay as an untrusted mailbox and log server.
 *
 * Loops: the monitor updates every `pollMs` (the policy in force, epoch keys, alerts); the ceremony engine ticks
 * whenever the monitor has a fresh policy under which this trustee is named (it refuses to act otherwise, TRU-6).
 *
 * The access half (src/access/, access.md §5–§6) runs here too when the anchors carry the relay's execution key
 * (`accessKey`): an {@link AccessService} over access.sqlite, fed every verified entry from index 0 and the latest
 * checkpoint after every poll, then `tick()` (the release rule for every executed request this trustee approved);
 * its routes (GET /v1/requests…, POST …/decision) on the operator API; its alerts in the vault's alerts table.
 * A failing tick is logged (no secrets), raised as an alert and retried at the next poll. When the API listens its
 * URL is written to DATA/api.url (0600; removed at close), which `overt trustee review|approve|deny` reads.
 *
 * Crypto-shredding (src/shred.ts, after-release.md §6): after the monitor's update on every poll, the
 * {@link Shredder} shreds every epoch whose retention is over under the policy in force and posts the recorded shred
 * statements the relay has not logged; `POST /v1/shreds {epoch}` shreds on the operator's word.
 *
 * Further hooks:
 *   - `routes(router)`: adds operator API routes (GET/POST with `:param` segments, JSON in and out);
 *   - `running.log.onEntry((index, entry) => …)`: every verified log entry, in order;
 *   - `running.log.latestCheckpoint()`, `running.log.policy()`: the latest verified checkpoint and the policy in
 *     force (undefined while stale or unseen);
 *   - `running.vault`: the {@link ShareVault} (shares, signing key, HPKE key) and plain state rows.
 */
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { AccessRelayClient } from '@overt/client';
import { fromBase64, toBase64 } from '@overt/core';
import { parseVerifierKey } from '@overt/log';
import { mountAccessRoutes } from './access/routes.js';
import { AccessService } from './access/service.js';
import { type ApiRouter, loadOrCreateApiToken, OperatorApi } from './api.js';
import { CeremonyEngine, type CeremonyEvent, type CeremonyHooks } from './ceremony/engine.js';
import { RelayTrusteeClient } from './ceremony/relay-transport.js';
import { TrusteeError } from './errors.js';
import {
  DEFAULT_MAX_AGE_SECONDS,
  type EntryListener,
  followerPosition,
  LogFollower,
  rewindFollower,
  type TrustAnchors,
} from './monitor.js';
import { mountShredRoutes, Shredder, shreddedJson } from './shred.js';
import { TrusteeVault, type VaultKeySource, vaultKeySource } from './vault.js';

/** The epoch of a time: calendar months since January 1970 (directory.md §4). */
export function calendarMonthEpoch(ms: number): number {
  const d = new Date(ms);
  return 12 * (d.getUTCFullYear() - 1970) + d.getUTCMonth();
}

export interface TrusteeOptions {
  readonly dataDir: string;
  readonly relayUrl: string;
  /** The trustee's index; needed on first start (written to identity.json). */
  readonly index?: number;
  readonly host?: string;
  /** The operator API's port; 0 picks a free one. */
  readonly port: number;
  /** Default: from OVERT_TRUSTEE_VAULT_KEY / OVERT_TRUSTEE_PASSPHRASE. */
  readonly key?: VaultKeySource;
  /**
   * The log key, witnesses and org key. Default: the relay's /.well-known/overt, pinned in the vault on first
   * start (trust on first use) and compared on every later start (TRU-5).
   */
  readonly anchors?: TrustAnchors;
  readonly now?: () => number;
  /** How often the monitor polls the log and the engine the mailbox during a ceremony (default 200 ms). */
  readonly pollMs?: number;
  /** How often they poll otherwise (default 2000 ms). */
  readonly idleMs?: number;
  /** Each ceremony phase's deadline when this trustee proposes (default 15 s). */
  readonly phaseMs?: number;
  /** The epochs that must have keys (default: the current and the next calendar month). */
  readonly epochs?: () => readonly number[];
  /**
   * Sees every verified log entry in order from the monitor's position on, registered before the monitor first
   * runs (so nothing is missed on this start). Entries processed by an earlier start are not replayed: a
   * subscriber keeps its own state in the vault (`vault.setState`).
   */
  readonly onEntry?: EntryListener;
  /** Adds operator API routes (the access half). */
  readonly routes?: (router: ApiRouter) => void;
  /** Test hooks that make this trustee misbehave in ceremonies. */
  readonly ceremonyHooks?: CeremonyHooks;
  readonly onCeremonyEvent?: (e: CeremonyEvent) => void;
  /** How old a checkpoint's witness quorum may be (monitor and release rule 3; default 300 s). */
  readonly maxAgeSeconds?: number;
  /** Where the daemon writes one line per access-half problem (default: stderr). Never gets a secret. */
  readonly logLine?: (line: string) => void;
  /** Worker threads for the release rule's cryptography (default: one per core; 0 runs it on the main thread). */
  readonly releaseWorkers?: number;
  /**
   * How long after a seal date (in force) this trustee waits for the relay's unseal before publishing its own
   * (after-release.md §1, TRU-U1); default 60,000 ms.
   */
  readonly unsealGraceMs?: number;
}

export interface RunningTrustee {
  /** The operator API's base URL. */
  readonly url: string;
  readonly index: number;
  readonly vault: TrusteeVault;
  readonly log: LogFollower;
  readonly ceremony: CeremonyEngine;
  /** The access half; undefined when the anchors carry no `accessKey`. */
  readonly access: AccessService | undefined;
  /** Crypto-shredding (after-release.md §6). */
  readonly shredder: Shredder;
  readonly apiToken: string;
  close(): Promise<void>;
}

const ANCHORS_STATE = 'trust/anchors';
/** The operator API's URL, written when it listens (mode 0600), read by `overt trustee …`. */
export const API_URL_FILE = 'api.url';

/** The anchors as one canonical string (fixed field order); `accessKey` only when present and `withAccess`. */
function anchorsText(a: TrustAnchors, withAccess = true): string {
  return JSON.stringify({
    origin: a.origin,
    logVkey: a.logVkey,
    witnessVkeys: a.witnessVkeys,
    witnessQuorum: a.witnessQuorum,
    adminKey: a.adminKey,
    ...(withAccess && a.accessKey !== undefined ? { accessKey: a.accessKey } : {}),
  });
}

async function fetchAnchors(relayUrl: string): Promise<TrustAnchors> {
  const res = await fetch(`${relayUrl.replace(/\/+$/, '')}/.well-known/overt`);
  if (!res.ok)
    throw new TrusteeError('TRUSTEE_STATE', `the relay's /.well-known/overt answered ${res.status}`, {
      check: 'TRU-5',
    });
  const doc = (await res.json()) as {
    admin_key?: string;
    adminKey?: string;
    accessKey?: unknown;
    log?: { origin?: string; vkey?: string; witness_vkeys?: string[]; witness_quorum?: number };
  };
  const log = doc.log ?? {};
  const adminKey = doc.admin_key ?? doc.adminKey;
  if (
    typeof adminKey !== 'string' ||
    typeof log.origin !== 'string' ||
    typeof log.vkey !== 'string' ||
    !Array.isArray(log.witness_vkeys) ||
    typeof log.witness_quorum !== 'number' ||
    (doc.accessKey !== undefined && typeof doc.accessKey !== 'string')
  )
    throw new TrusteeError('TRUSTEE_STATE', "the relay's /.well-known/overt is malformed", {
      check: 'TRU-5',
    });
  return {
    origin: log.origin,
    logVkey: log.vkey,
    witnessVkeys: log.witness_vkeys,
    witnessQuorum: log.witness_quorum,
    adminKey,
    ...(typeof doc.accessKey === 'string' ? { accessKey: doc.accessKey } : {}),
  };
}

/**
 * The anchors of this start, pinned in the vault on first start and compared on every later one (TRU-5). A pin
 * made before the relay's `accessKey` was an anchor gains it (from the given anchors or /.well-known/overt) when
 * everything else is the same.
 */
async function pinAnchors(vault: TrusteeVault, o: TrusteeOptions): Promise<TrustAnchors> {
  const raw = vault.getState(ANCHORS_STATE);
  const pinned = raw === undefined ? undefined : (JSON.parse(raw) as TrustAnchors);
  const anchors =
    o.anchors ??
    (pinned !== undefined && pinned.accessKey !== undefined ? pinned : await fetchAnchors(o.relayUrl));
  if (pinned !== undefined) {
    const upgrade = pinned.accessKey === undefined;
    if (anchorsText(pinned) !== anchorsText(anchors, !upgrade))
      throw new TrusteeError('TRUSTEE_STATE', 'the trust anchors differ from those pinned on first start', {
        check: 'TRU-5',
      });
    if (!upgrade) return pinned;
  }
  vault.setState(ANCHORS_STATE, anchorsText(anchors));
  return anchors;
}

export async function startTrustee(o: TrusteeOptions): Promise<RunningTrustee> {
  const now = o.now ?? Date.now;
  const pollMs = o.pollMs ?? 200;
  const idleMs = Math.max(o.idleMs ?? 2_000, pollMs);
  const vault = await TrusteeVault.open({
    dataDir: o.dataDir,
    key: o.key ?? vaultKeySource(),
    ...(o.index !== undefined ? { index: o.index } : {}),
  });
  let api: OperatorApi | undefined;
  let stopped = false;
  const loops: Promise<void>[] = [];
  let ceremony: CeremonyEngine | undefined;
  let access: AccessService | undefined;
  const urlFile = join(o.dataDir, API_URL_FILE);
  const logLine = o.logLine ?? ((line: string) => process.stderr.write(`${line}\n`));
  try {
    const anchors = await pinAnchors(vault, o);
    const maxAgeSeconds = o.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
    const relayBase = o.relayUrl.replace(/\/+$/, '');
    if (anchors.accessKey !== undefined) {
      access = AccessService.open({
        dataDir: o.dataDir,
        vault,
        relay: new AccessRelayClient({
          url: relayBase,
          signer: { kind: 'trustee', index: vault.index, key: vault.signingKey() },
          now,
        }),
        orgKey: fromBase64(anchors.adminKey),
        relayKey: fromBase64(anchors.accessKey),
        log: { origin: anchors.origin, logKeys: [parseVerifierKey(anchors.logVkey)] },
        maxAgeSeconds,
        clock: now,
        // The release rule's per-envelope cryptography on worker threads, one per core (started on first release).
        releaseWorkers: o.releaseWorkers ?? availableParallelism(),
        ...(o.unsealGraceMs !== undefined ? { unsealGraceMs: o.unsealGraceMs } : {}),
      });
      // The tracker needs every entry from index 0: a new (or older) access.sqlite behind the monitor's position
      // makes the monitor read the log again from the start (entries the tracker has are skipped).
      if (access.tracker.nextIndex < followerPosition(vault, anchors.origin))
        rewindFollower(vault, anchors.origin);
    }
    const log = new LogFollower({
      vault,
      logUrl: `${o.relayUrl.replace(/\/+$/, '')}/log/`,
      anchors,
      now,
      maxAgeSeconds,
    });
    const accessHalf = access;
    if (accessHalf) log.onEntry((index, entry) => accessHalf.onEntry(index, entry));
    if (o.onEntry) log.onEntry(o.onEntry);
    const relay = new RelayTrusteeClient(o.relayUrl, vault.index, vault.signingKey(), now);
    const events: CeremonyEvent[] = [];
    const engine = new CeremonyEngine({
      vault,
      transport: relay,
      log: {
        policy: () => log.policy(),
        epochKey: (e) => log.epochKey(e),
        publish: (s) => relay.publishEpochKey(s),
      },
      epochs:
        o.epochs ??
        (() => {
          const e = calendarMonthEpoch(now());
          return [e, e + 1];
        }),
      now,
      ...(o.phaseMs !== undefined ? { phaseMs: o.phaseMs } : {}),
      pollMs,
      ...(o.ceremonyHooks ? { hooks: o.ceremonyHooks } : {}),
      onEvent: (e) => {
        events.push(e);
        if (events.length > 50) events.shift();
        o.onCeremonyEvent?.(e);
      },
    });
    ceremony = engine;
    let lastError: string | undefined;
    const shredder = new Shredder({
      vault,
      relay: new AccessRelayClient({
        url: relayBase,
        signer: { kind: 'trustee', index: vault.index, key: vault.signingKey() },
        now,
      }),
      policy: () => log.policy(),
      now,
      logLine,
    });

    const token = loadOrCreateApiToken(o.dataDir);
    api = new OperatorApi(token);
    api.get('/v1/status', () => {
      const policy = log.policy();
      const cp = log.latestCheckpoint();
      return {
        status: 200,
        body: {
          index: vault.index,
          signingKey: vault.identity.signingKey,
          hpkeKey: vault.identity.hpkeKey,
          policy: policy ? { serial: policy.policy.serial, hash: toBase64(policy.hash) } : null,
          problem: log.problem() ?? null,
          checkpoint: cp ? { size: cp.size } : null,
          shares: vault.shareEpochs(),
          shredded: vault.shreddedEpochs().map(shreddedJson),
          epochKeys: (o.epochs?.() ?? [calendarMonthEpoch(now()), calendarMonthEpoch(now()) + 1]).map(
            (e) => ({
              epoch: e,
              logged: log.epochKey(e) !== undefined,
            }),
          ),
          lastError: lastError ?? null,
          access: accessHalf ? { nextIndex: accessHalf.tracker.nextIndex } : null,
          ceremony: events.slice(-10).map((e) => ({
            ...e,
            ...('transcriptHash' in e ? { transcriptHash: toBase64(e.transcriptHash) } : {}),
          })),
        },
      };
    });
    // Ready once the vault is open and the API listens; `policy`: the daemon sees a policy naming it on the log.
    api.health = () => ({
      ok: !stopped,
      index: vault.index,
      policy: log.policy()?.policy.trustees.some((t) => t.index === vault.index) ?? false,
      logProblem: log.problem() !== undefined,
    });
    api.get('/v1/alerts', () => ({ status: 200, body: { alerts: vault.alerts() } }));
    if (accessHalf) mountAccessRoutes(api, accessHalf.routes);
    mountShredRoutes(api, shredder, vault);
    o.routes?.(api);
    const url = await api.listen(o.host ?? '127.0.0.1', o.port);
    writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });
    chmodSync(urlFile, 0o600);

    // One line and one alert per new access problem (the same problem at every poll is reported once).
    const reported = new Map<string, string>();
    const accessProblem = (key: string, message: string) => {
      if (reported.get(key) === message) return;
      reported.set(key, message);
      logLine(`trustee ${vault.index}: access: ${key}: ${message}`);
      vault.addAlert('access-error', `${key}: ${message}`, now(), `access-error/${key}/${message}`);
    };
    const runAccess = async () => {
      if (!accessHalf) return;
      try {
        accessHalf.onCheckpoint(log.latestCheckpoint());
        const outcomes = await accessHalf.tick();
        for (const [id, out] of outcomes) {
          const key = `request ${id}`;
          if (out.status === 'error') accessProblem(key, out.message);
          else reported.delete(key);
        }
        reported.delete('tick');
      } catch (e) {
        accessProblem('tick', e instanceof Error ? e.message : 'error');
      }
    };

    // Sleeps end early when the daemon closes, so close() does not wait out an idle pause.
    const sleepers = new Set<() => void>();
    const sleep = (ms: number) =>
      new Promise<void>((r) => {
        const wake = () => {
          clearTimeout(timer);
          sleepers.delete(wake);
          r();
        };
        const timer = setTimeout(wake, ms);
        sleepers.add(wake);
      });
    loops.push(
      (async () => {
        while (!stopped) {
          try {
            await log.update();
          } catch (e) {
            lastError = e instanceof Error ? e.message : String(e);
          }
          await runAccess();
          try {
            await shredder.tick();
          } catch (e) {
            lastError = e instanceof Error ? e.message : String(e);
          }
          await sleep(engine.active ? pollMs : idleMs);
        }
      })(),
    );
    loops.push(
      (async () => {
        while (!stopped) {
          const policy = log.policy();
          const named = policy?.policy.trustees.some(
            (t) => t.index === vault.index && toBase64(t.signingKey) === vault.identity.signingKey,
          );
          if (named) {
            try {
              await engine.tick();
            } catch (e) {
              lastError = e instanceof Error ? e.message : String(e);
            }
          }
          await sleep(idleMs);
        }
      })(),
    );
    let closing: Promise<void> | undefined;
    return {
      url,
      index: vault.index,
      vault,
      log,
      ceremony: engine,
      access: accessHalf,
      shredder,
      apiToken: token,
      close() {
        closing ??= (async () => {
          stopped = true;
          engine.stop();
          for (const wake of [...sleepers]) wake();
          await Promise.allSettled(loops);
          await api?.close();
          rmSync(urlFile, { force: true });
          await accessHalf?.close();
          vault.close();
        })();
        return closing;
      },
    };
  } catch (e) {
    stopped = true;
    ceremony?.stop();
    await Promise.allSettled(loops);
    await api?.close();
    rmSync(urlFile, { force: true });
    await access?.close();
    vault.close();
    throw e;
  }
}
