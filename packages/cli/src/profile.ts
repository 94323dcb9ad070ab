/**
 * A device profile on disk (docs/spec/cli.md §2): the directory (mode 0700) holding `profile.json` (relay URL,
 * org, user and device ids, and the org's pinned trust anchors — no secret), `device.key` (the device's Ed25519 seed as hex, mode 0600), `store/`
 * (the SDK's state, FileStore) and `files/` (received files). Opening a profile refuses a key file that group or
 * others can access, like `ssh` does, because that key is the device's identity on the log.
 */
import { closeSync, constants, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  isClientError,
  OvertClient,
  type TrustAnchors,
  trustAnchorsFromWellKnown,
  type WebSocketConstructor,
} from '@overt/client';
import { FileStore } from '@overt/client/node';
import {
  fromBase64,
  fromHex,
  randomBytes,
  type SigningKeyPair,
  signingKeyFromSeed,
  toBase64,
  toHex,
  utf8Encode,
} from '@overt/core';
import WebSocket from 'ws';
import { UsageError } from './command.js';

export interface ProfileInfo {
  readonly version: 1;
  readonly relay: string;
  readonly org: string;
  readonly user: string;
  readonly device: string;
  /**
   * The org's trust anchors, pinned from `/.well-known/overt` on first contact (trust on first use: a relay that
   * lies in that first answer is not detected; every later answer is checked against the pin).
   */
  readonly trust?: PinnedTrust;
  /**
   * The relay's franking public key (base64, `franking_key` of `/.well-known/overt`, relay.md §10), pinned on first
   * contact like `trust`: every received message's stamp is checked against it (client.md §4.5).
   */
  readonly frankingKey?: string;
}

/** {@link TrustAnchors} as JSON in profile.json (the admin key in base64). */
export interface PinnedTrust {
  readonly log: TrustAnchors['log'];
  readonly adminKey: string;
}

function pinnedOf(anchors: TrustAnchors): PinnedTrust {
  return { log: anchors.log, adminKey: toBase64(anchors.adminKey) };
}

function anchorsOf(pinned: PinnedTrust): TrustAnchors {
  return { log: pinned.log, adminKey: fromBase64(pinned.adminKey) };
}

/** Key packages kept published ahead, so others can add this device to conversations while it is offline. */
const KEY_PACKAGE_LOW = 5;
const KEY_PACKAGE_BATCH = 10;

/** Writes `data` to `path` through a private temporary file linked into place; fails if `path` exists. */
function writeNewFile(path: string, data: Uint8Array): void {
  const tmp = `${path}.${process.pid}.${toHex(randomBytes(4))}.tmp`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Fetches the relay's `/.well-known/overt` document (docs/spec/start.md §2). */
async function fetchWellKnownDoc(relay: string): Promise<{ org?: unknown } | undefined> {
  let res: Response;
  try {
    res = await fetch(new URL('/.well-known/overt', relay));
  } catch (cause) {
    throw new UsageError(`cannot reach the relay at ${relay}: ${(cause as Error).message}`);
  }
  const doc = (await res.json().catch(() => undefined)) as { org?: unknown } | undefined;
  if (!res.ok) return undefined;
  return doc;
}

/** The relay's franking key from `/.well-known/overt` (base64 of 32 bytes), or undefined when it serves none. */
async function fetchFrankingKey(relay: string): Promise<string | undefined> {
  const doc = (await fetchWellKnownDoc(relay)) as { franking_key?: unknown } | undefined;
  const k = doc?.franking_key;
  if (typeof k !== 'string') return undefined;
  try {
    if (fromBase64(k).length === 32) return k;
  } catch {
    // Not base64: treated like a relay without a franking key.
  }
  return undefined;
}

/** Fetches the relay's org id from `/.well-known/overt` (docs/spec/start.md §2). */
export async function fetchOrg(relay: string): Promise<string> {
  const doc = await fetchWellKnownDoc(relay);
  if (typeof doc?.org !== 'string' || doc.org === '')
    throw new UsageError(`${relay} does not serve a /.well-known/overt document with an org`);
  return doc.org;
}

/**
 * Fetches the org id and the trust anchors (log origin, URL and key, witnesses and quorum, admin key) from
 * `/.well-known/overt`, for pinning in the profile on first contact (trust on first use).
 */
export async function fetchTrust(relay: string): Promise<{ org: string; trust: PinnedTrust }> {
  const doc = await fetchWellKnownDoc(relay);
  try {
    const { orgId, anchors } = trustAnchorsFromWellKnown(doc);
    return { org: orgId, trust: pinnedOf(anchors) };
  } catch (e) {
    if (isClientError(e, 'KT_ANCHORS_INVALID'))
      throw new UsageError(`${relay} does not serve a usable /.well-known/overt document (${e.message})`);
    throw e;
  }
}

/** Rewrites profile.json atomically (temporary file, fsync, rename). */
function rewriteProfile(dir: string, info: ProfileInfo): void {
  const path = join(dir, 'profile.json');
  const tmp = `${path}.${process.pid}.${toHex(randomBytes(4))}.tmp`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, utf8Encode(`${JSON.stringify(info, null, 2)}\n`));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Creates a new profile; refuses a directory that already holds one. Returns the device's public key. */
export async function initProfile(dir: string, info: ProfileInfo): Promise<SigningKeyPair> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const seed = randomBytes(32);
  const key = signingKeyFromSeed(seed);
  try {
    writeNewFile(join(dir, 'device.key'), utf8Encode(`${toHex(seed)}\n`));
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST')
      throw new UsageError(`${dir} already holds a device profile`);
    throw e;
  } finally {
    seed.fill(0);
  }
  writeNewFile(join(dir, 'profile.json'), utf8Encode(`${JSON.stringify(info, null, 2)}\n`));
  await FileStore.open(join(dir, 'store'));
  return key;
}

export interface OpenProfile {
  readonly dir: string;
  readonly info: ProfileInfo;
  readonly key: SigningKeyPair;
  readonly store: FileStore;
  readonly client: OvertClient;
}

/** Opens a profile and its client; tops up the published key packages. @throws UsageError for a bad profile. */
export async function openProfile(dir: string): Promise<OpenProfile> {
  let info: ProfileInfo;
  let keyText: string;
  try {
    info = JSON.parse(await readFile(join(dir, 'profile.json'), 'utf8')) as ProfileInfo;
    const st = await stat(join(dir, 'device.key'));
    if ((st.mode & 0o077) !== 0)
      throw new UsageError(`${join(dir, 'device.key')} is accessible by others; chmod 600 it`);
    keyText = (await readFile(join(dir, 'device.key'), 'utf8')).trim();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${dir} is not a device profile (run 'overt device init' first)`);
  }
  if (
    info?.version !== 1 ||
    typeof info.relay !== 'string' ||
    typeof info.org !== 'string' ||
    typeof info.user !== 'string' ||
    typeof info.device !== 'string' ||
    !/^[0-9a-f]{64}$/.test(keyText)
  )
    throw new UsageError(`${dir} holds a malformed device profile`);
  const seed = fromHex(keyText);
  const key = signingKeyFromSeed(seed);
  seed.fill(0);
  if (info.trust === undefined) {
    // A profile made before pinning existed: pin now, on this first contact (trust on first use).
    const { org, trust } = await fetchTrust(info.relay);
    if (org !== info.org) throw new UsageError(`${info.relay} now serves another org than the profile's`);
    info = { ...info, trust };
    rewriteProfile(dir, info);
  }
  let anchors: TrustAnchors;
  try {
    anchors = anchorsOf(info.trust!);
  } catch {
    throw new UsageError(`${dir} holds a malformed device profile`);
  }
  if (info.frankingKey === undefined) {
    const pinned = await fetchFrankingKey(info.relay);
    if (pinned !== undefined) {
      info = { ...info, frankingKey: pinned };
      rewriteProfile(dir, info);
    }
  }
  let relayFrankingKey: Uint8Array | undefined;
  try {
    relayFrankingKey = info.frankingKey === undefined ? undefined : fromBase64(info.frankingKey);
  } catch {
    throw new UsageError(`${dir} holds a malformed device profile`);
  }
  if (relayFrankingKey !== undefined && relayFrankingKey.length !== 32)
    throw new UsageError(`${dir} holds a malformed device profile`);
  const store = await FileStore.open(join(dir, 'store'));
  const client = await OvertClient.open({
    url: info.relay,
    orgId: info.org,
    userId: info.user,
    deviceId: info.device,
    signingKey: key,
    store,
    trust: anchors,
    ...(relayFrankingKey !== undefined ? { relayFrankingKey } : {}),
    // Every sync also reads the log and reports devices of this user that the user did not approve (A6).
    monitorLog: true,
    // Node 20 has no global WebSocket; `ws` (the relay's own) serves the mailbox socket.
    WebSocket: (globalThis.WebSocket ?? WebSocket) as unknown as WebSocketConstructor,
  });
  if ((await store.list('kp/')).length < KEY_PACKAGE_LOW) await client.publishKeyPackages(KEY_PACKAGE_BATCH);
  return { dir, info, key, store, client };
}
