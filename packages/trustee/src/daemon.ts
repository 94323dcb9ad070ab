/**
 * One trustee daemon (docs/spec/access.md §6): its vault, its operator API on 127.0.0.1, its log monitor and its
 * ceremony engine, with the relay as an untrusted mailbox and log server.
 *
 * Loops: the monitor updates every `pollMs` (the policy in force, epoch keys, alerts); the ceremony engine ticks
 * whenever the monitor has a fresh policy under which this trustee is named (it refuses to act otherwise, TRU-6).
 *
 * Hooks for the access half (the release rule, src/access/):
 *   - `routes(router)`: adds operator API routes (GET/POST with `:param` segments, JSON in and out);
 *   - `running.log.onEntry((index, entry) => …)`: every verified log entry, in order;
 *   - `running.log.latestCheckpoint()`, `running.log.policy()`: the latest verified checkpoint and the policy in
 *     force (undefined while stale or unseen);
 *   - `running.vault`: the {@link ShareVault} (shares, signing key, HPKE key) and plain state rows.
 */
import { toBase64 } from '@overt/core';
import { type ApiRouter, loadOrCreateApiToken, OperatorApi } from './api.js';
import { CeremonyEngine, type CeremonyEvent, type CeremonyHooks } from './ceremony/engine.js';
import { RelayTrusteeClient } from './ceremony/relay-transport.js';
import { TrusteeError } from './errors.js';
import { type EntryListener, LogFollower, type TrustAnchors } from './monitor.js';
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
}

export interface RunningTrustee {
  /** The operator API's base URL. */
  readonly url: string;
  readonly index: number;
  readonly vault: TrusteeVault;
  readonly log: LogFollower;
  readonly ceremony: CeremonyEngine;
  readonly apiToken: string;
  close(): Promise<void>;
}

const ANCHORS_STATE = 'trust/anchors';

async function fetchAnchors(relayUrl: string): Promise<TrustAnchors> {
  const res = await fetch(`${relayUrl.replace(/\/+$/, '')}/.well-known/overt`);
  if (!res.ok)
    throw new TrusteeError('TRUSTEE_STATE', `the relay's /.well-known/overt answered ${res.status}`, {
      check: 'TRU-5',
    });
  const doc = (await res.json()) as {
    admin_key?: string;
    adminKey?: string;
    log?: { origin?: string; vkey?: string; witness_vkeys?: string[]; witness_quorum?: number };
  };
  const log = doc.log ?? {};
  const adminKey = doc.admin_key ?? doc.adminKey;
  if (
    typeof adminKey !== 'string' ||
    typeof log.origin !== 'string' ||
    typeof log.vkey !== 'string' ||
    !Array.isArray(log.witness_vkeys) ||
    typeof log.witness_quorum !== 'number'
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
  };
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
  try {
    const pinned = vault.getState(ANCHORS_STATE);
    const anchors =
      o.anchors ?? (pinned ? (JSON.parse(pinned) as TrustAnchors) : await fetchAnchors(o.relayUrl));
    if (pinned !== undefined && pinned !== JSON.stringify(anchors))
      throw new TrusteeError('TRUSTEE_STATE', 'the trust anchors differ from those pinned on first start', {
        check: 'TRU-5',
      });
    if (pinned === undefined) vault.setState(ANCHORS_STATE, JSON.stringify(anchors));
    const log = new LogFollower({
      vault,
      logUrl: `${o.relayUrl.replace(/\/+$/, '')}/log/`,
      anchors,
      now,
    });
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
          epochKeys: (o.epochs?.() ?? [calendarMonthEpoch(now()), calendarMonthEpoch(now()) + 1]).map(
            (e) => ({
              epoch: e,
              logged: log.epochKey(e) !== undefined,
            }),
          ),
          lastError: lastError ?? null,
          ceremony: events.slice(-10).map((e) => ({
            ...e,
            ...('transcriptHash' in e ? { transcriptHash: toBase64(e.transcriptHash) } : {}),
          })),
        },
      };
    });
    api.get('/v1/alerts', () => ({ status: 200, body: { alerts: vault.alerts() } }));
    o.routes?.(api);
    const url = await api.listen(o.host ?? '127.0.0.1', o.port);

    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    loops.push(
      (async () => {
        while (!stopped) {
          try {
            await log.update();
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
      apiToken: token,
      close() {
        closing ??= (async () => {
          stopped = true;
          engine.stop();
          await Promise.allSettled(loops);
          await api?.close();
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
    vault.close();
    throw e;
  }
}
