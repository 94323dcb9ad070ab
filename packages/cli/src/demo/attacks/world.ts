/**
 * What the attacks of `overt demo` work with (docs/spec/demo-attacks.md): the live system of `overt up`, reached the
 * way each attacker reaches it — the relay's base URL for everyone, and the data directory for the parties whose
 * keys live there: the relay operator (relay/relay.sqlite, relay/access.key), the log operator (log/log.key), the
 * org admin (admin.key), the trustees (trustees/trustee-i with their vault keys in trustees/vault-keys), the
 * requester stand-in (requester/secret.key). People are made here too: throwaway users enrolled with the admin key,
 * each an in-memory client, so no demo user's profile is touched.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AccessRelayClient,
  buildRequest,
  type ClientEvent,
  isClientError,
  MemoryStore,
  OvertClient,
  RelayTransport,
  type TrustAnchors,
  trustAnchorsFromWellKnown,
} from '@overt/client';
import {
  fromBase64,
  generateSigningKey,
  type SigningKeyPair,
  signDeviceStatement,
  type VerifiedPolicy,
} from '@overt/core';
import { parseSignerKey, type SignerKey } from '@overt/log';
import { TrusteeVault } from '@overt/trustee';
import { requesterKeysFromSecret } from '@overt/up';
import Database from 'better-sqlite3';
import { fetchWellKnownDoc } from '../../profile.js';
import { logView, type Org, policyInForce } from '../../requester.js';
import type { AttackContext } from '../attack-types.js';

export const HOUR = 3_600_000;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` every 200 ms until it returns something other than undefined; fails after `ms`. */
export async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** An error as the demo saw it: its code and check ID (undefined when it carries none). */
export interface Refusal {
  readonly code: string;
  readonly check: string | undefined;
  readonly message: string;
  /** The relay's own code, for a RELAY_REFUSED answer. */
  readonly relayCode?: string;
  readonly status?: number;
  /** The typed errors behind it (its causes), outermost first. */
  readonly causes: readonly { readonly code: string; readonly check: string | undefined }[];
}

/** A typed error of any package (ClientError, OvertError, LogError, TrusteeError …): it has a string code. */
function typed(
  e: unknown,
): e is { code: string; check?: string; message: string; relayCode?: string; status?: number } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string';
}

/** `e` as a refusal — its code, check ID and the typed errors behind it — or undefined when it is not typed. */
export function refusalOf(e: unknown): Refusal | undefined {
  if (!typed(e)) return undefined;
  const causes: { code: string; check: string | undefined }[] = [];
  for (
    let c: unknown = (e as { cause?: unknown }).cause;
    c !== undefined && c !== null;
    c = (c as { cause?: unknown }).cause
  )
    if (typed(c)) causes.push({ code: c.code, check: c.check });
  return {
    code: e.code,
    check: e.check,
    message: e.message,
    ...(e.relayCode !== undefined ? { relayCode: e.relayCode } : {}),
    ...(e.status !== undefined ? { status: e.status } : {}),
    causes,
  };
}

/** Whether `r` or one of its causes carries `check`. */
export function hasCheck(r: Refusal | undefined, check: string): boolean {
  return r !== undefined && (r.check === check || r.causes.some((c) => c.check === check));
}

/** Runs `p`; the refusal it ended with, or undefined when it succeeded. Errors without a code are rethrown. */
export async function refused(p: Promise<unknown> | (() => unknown)): Promise<Refusal | undefined> {
  try {
    if (typeof p === 'function') await p();
    else await p;
  } catch (e) {
    const r = refusalOf(e);
    if (r !== undefined) return r;
    throw e;
  }
  return undefined;
}

/** `CODE [CHECK]` (the relay's code for a relay refusal), then each cause with a check ID: `← CODE [CHECK]`. */
export function shown(r: Refusal): string {
  const one = (code: string, check: string | undefined) =>
    `${code}${check !== undefined ? ` [${check}]` : ''}`;
  return [
    one(r.relayCode ?? r.code, r.check),
    ...r.causes.filter((c) => c.check !== undefined && c.check !== r.check).map((c) => one(c.code, c.check)),
  ].join(' ← ');
}

/** A throwaway person: a user with one enrolled device, its key, and an in-memory client. */
export interface Person {
  readonly userId: string;
  readonly deviceId: string;
  readonly key: SigningKeyPair;
  readonly client: OvertClient;
  /** The client's store (what its device keeps, e.g. the ready abuse reports). */
  readonly store: MemoryStore;
}

export class AttackWorld {
  /** A short random tag that keeps the names of this run's people apart from an earlier run's. */
  readonly tag = randomBytes(3).toString('hex');
  private vaultsOpen: TrusteeVault[] | undefined;
  private readonly closers: (() => Promise<void> | void)[] = [];

  private constructor(
    readonly ctx: AttackContext,
    readonly org: Org,
    readonly anchors: TrustAnchors,
    readonly policy: VerifiedPolicy,
    readonly admin: SignerKey,
    readonly requester: Awaited<ReturnType<typeof requesterKeysFromSecret>>,
    readonly requesterId: string,
    /** The checkpoint the log served when the attacks began (A16's stale relay serves it later). */
    readonly firstCheckpoint: string,
    /** When that checkpoint was fetched. */
    readonly startedAt: number,
  ) {}

  static async open(ctx: AttackContext): Promise<AttackWorld> {
    const doc = await fetchWellKnownDoc(ctx.relayUrl);
    const { orgId, anchors } = trustAnchorsFromWellKnown(doc);
    const d = doc as { accessKey?: string; unsealKey?: string };
    const org: Org = {
      orgId,
      anchors,
      accessKey: fromBase64(String(d.accessKey)),
      ...(typeof d.unsealKey === 'string' ? { unsealKey: fromBase64(d.unsealKey) } : {}),
      from: 'relay',
    };
    const view = await logView(org);
    const policy = policyInForce(view, org);
    const admin = parseSignerKey(readFileSync(join(ctx.dataDir, 'admin.key'), 'utf8').trim());
    const requester = await requesterKeysFromSecret(
      new Uint8Array(readFileSync(join(ctx.dataDir, 'requester', 'secret.key'))),
    );
    const mine = policy.policy.requesters.find((r) =>
      Buffer.from(r.signingKey).equals(Buffer.from(requester.signingKey.publicKey)),
    );
    const requesterId = mine?.id ?? policy.policy.requesters[0]!.id;
    const startedAt = Date.now();
    const first = await (await fetch(new URL('/log/checkpoint', ctx.relayUrl))).text();
    return new AttackWorld(ctx, org, anchors, policy, admin, requester, requesterId, first, startedAt);
  }

  get url(): string {
    return this.ctx.relayUrl;
  }

  path(...parts: string[]): string {
    return join(this.ctx.dataDir, ...parts);
  }

  /** The trustee vaults, opened with their keys (data/trustees/vault-keys: up's honest limit, start.md §4). */
  async vaults(): Promise<TrusteeVault[]> {
    if (this.vaultsOpen === undefined) {
      const open: TrusteeVault[] = [];
      for (const t of this.policy.policy.trustees) {
        const v = await TrusteeVault.open({
          dataDir: this.path('trustees', `trustee-${t.index}`),
          key: {
            kind: 'raw',
            key: new Uint8Array(readFileSync(this.path('trustees', 'vault-keys', `trustee-${t.index}.key`))),
          },
        });
        open.push(v);
      }
      this.vaultsOpen = open;
      this.closers.push(() => {
        for (const v of open) v.close();
      });
    }
    return this.vaultsOpen;
  }

  requesterClient(): AccessRelayClient {
    return new AccessRelayClient({
      url: this.url,
      signer: { kind: 'requester', id: this.requesterId, key: this.requester.signingKey },
    });
  }

  /** Trustee i's relay client under its own signing key, taken from its vault. */
  async trusteeClient(i: number): Promise<AccessRelayClient> {
    const v = (await this.vaults())[i - 1]!;
    return new AccessRelayClient({
      url: this.url,
      signer: { kind: 'trustee', index: i, key: v.signingKey() },
    });
  }

  /** A call to trustee i's operator API with its bearer token (trustees/trustee-i/api.url, api.token). */
  async operator(i: number, method: 'GET' | 'POST', path: string, body?: unknown) {
    const dir = this.path('trustees', `trustee-${i}`);
    const url = readFileSync(join(dir, 'api.url'), 'utf8').trim();
    const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** Trustee i's operator approves a request through its daemon, once the daemon sees it on its view of the log. */
  async approveByOperator(i: number, id: string): Promise<void> {
    await until(`trustee ${i} to see the request`, async () =>
      (await this.operator(i, 'GET', `/v1/requests/${id}`)).status === 200 ? true : undefined,
    );
    const r = await this.operator(i, 'POST', `/v1/requests/${id}/decision`, { verdict: 'approve' });
    if (r.status !== 200) throw new Error(`trustee ${i} did not approve: ${JSON.stringify(r.body)}`);
  }

  /** The relay's database, opened by its operator while the relay runs. */
  relayDb(): Database.Database {
    const db = new Database(this.path('relay', 'relay.sqlite'));
    db.pragma('busy_timeout = 5000');
    return db;
  }

  /** A request built and signed by the requester stand-in. */
  newRequest(o: {
    subjects: string[];
    window: { from: number; until: number };
    conversations?: Uint8Array[];
    maxEnvelopes?: number;
    /** Default: a day from now. */
    sealUntil?: number;
  }) {
    const now = Date.now();
    return buildRequest({
      policy: this.policy,
      requesterId: this.requesterId,
      signingKey: this.requester.signingKey,
      legalBasis: 'Demo attack (overt demo)',
      documentHash: new Uint8Array(32).fill(0xde),
      subjects: o.subjects,
      window: o.window,
      ...(o.conversations ? { conversations: o.conversations } : {}),
      maxEnvelopes: o.maxEnvelopes ?? 100,
      sealUntil: o.sealUntil ?? now + 24 * HOUR,
      createdAt: now,
      confidential: { justification: 'overt demo: an attack on the system', caseReference: 'demo' },
    });
  }

  /** Waits until the log's checkpoint covers `index` (a client accepts a device once a witnessed one does). */
  async witnessed(index: number): Promise<void> {
    await until('a checkpoint covering the entry', async () => {
      const text = await (await fetch(new URL('/log/checkpoint', this.url))).text();
      return Number(text.split('\n')[1]) > index ? true : undefined;
    });
  }

  /** Enrols a device for `userId` (created if new) with the admin key; the log index of its statement. */
  async enrol(userId: string, deviceId: string, key: SigningKeyPair): Promise<number> {
    const admin = new RelayTransport({ url: this.url, key: this.admin.keyPair, signer: { kind: 'admin' } });
    try {
      await admin.createUser(userId);
    } catch (e) {
      if (!isClientError(e) || e.relayCode !== 'DIR_USER_EXISTS') throw e;
    }
    const index = await admin.enrolDevice(
      signDeviceStatement(this.admin.keyPair, {
        kind: 'added',
        orgId: this.org.orgId,
        userId,
        deviceId,
        identityKey: key.publicKey,
        time: Date.now(),
      }),
    );
    await this.witnessed(index);
    return index;
  }

  /** An in-memory client of `userId`/`deviceId` under `key`, on the pinned anchors. */
  async openClient(
    userId: string,
    deviceId: string,
    key: SigningKeyPair,
    extra: Partial<Parameters<typeof OvertClient.open>[0]> = {},
  ): Promise<OvertClient> {
    const client = await OvertClient.open({
      url: this.url,
      orgId: this.org.orgId,
      userId,
      deviceId,
      signingKey: key,
      store: new MemoryStore(),
      trust: this.anchors,
      ...extra,
    });
    return client;
  }

  /** A new throwaway person `name-<tag>`, enrolled, with key packages published. */
  async person(name: string): Promise<Person> {
    const userId = `${name}-${this.tag}`;
    const deviceId = `${userId}-phone`;
    const key = generateSigningKey();
    await this.enrol(userId, deviceId, key);
    const store = new MemoryStore();
    const client = await this.openClient(userId, deviceId, key, { store });
    await client.publishKeyPackages(2);
    return { userId, deviceId, key, client, store };
  }

  async close(): Promise<void> {
    for (const c of this.closers.reverse()) await c();
  }
}

/** The events of kind `kind`. */
export function eventsOf<K extends ClientEvent['kind']>(events: readonly ClientEvent[], kind: K) {
  return events.filter((e): e is Extract<ClientEvent, { kind: K }> => e.kind === kind);
}
