/**
 * A device profile on disk (docs/spec/cli.md §3): the directory (mode 0700) holding `profile.json` (relay URL,
 * org, user and device ids, and the org's pinned trust anchors — no secret), `profile-key.json` (the random profile
 * key, wrapped under a key derived from the user's passphrase with Argon2id), `device.key` (the device's Ed25519
 * seed, sealed under the profile key) and `store/` (the SDK's state, a FileStore whose every record is sealed under
 * the profile key; received files are kept there too). Secrets are never on disk in the clear.
 *
 * Opening a profile unlocks it (passphrase.ts) and refuses a device key file that group or others can access, like
 * `ssh` does. A profile written unencrypted by an older version (version 1: hex `device.key`, plaintext `store/k-…`
 * files, `files/`) is encrypted on its first open under a passphrase asked for then; the steps are ordered so that
 * a crash part-way is finished by the next open (§3.2).
 */
import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { mkdir, readdir, readFile, rmdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  createProfileKey,
  DEVICE_KEY_LABEL,
  isClientError,
  OvertClient,
  openRecord,
  type ProfileKeyFile,
  type ProfileSecret,
  parseProfileKeyFile,
  sealRecord,
  type TrustAnchors,
  trustAnchorsFromWellKnown,
  unlockProfileKey,
  type WebSocketConstructor,
  wrapProfileKey,
} from '@overt/client';
import { FileStore, httpFetch, lockStoreDir, STORE_LOCK_WAIT_MS } from '@overt/client/node';
import {
  fromBase64,
  fromBase64Url,
  fromHex,
  randomBytes,
  type SigningKeyPair,
  signingKeyFromSeed,
  toBase64,
  toHex,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import { LockedError, networkReason, UnavailableError, UsageError } from './command.js';
import type { SecretSource } from './passphrase.js';

const require = createRequire(import.meta.url);

/**
 * `ws` (the relay's own WebSocket), loaded when the first mailbox socket opens: most commands never open one, and
 * loading its modules is part of every command's start-up otherwise (issue #9). `ws` is CommonJS, so `require`
 * loads it synchronously inside the constructor the SDK calls.
 */
const LazyWebSocket = function LazyWebSocket(url: string) {
  const WebSocket = require('ws') as new (url: string) => unknown;
  return new WebSocket(url);
} as unknown as WebSocketConstructor;

/** The profile format this version writes (cli.md §3). */
export const PROFILE_VERSION = 2;

const PROFILE_JSON = 'profile.json';
const KEY_FILE = 'profile-key.json';
const DEVICE_KEY = 'device.key';
/** Store keys of received files (the message id, base64url). */
export const FILE_PREFIX = 'cli/file/';
/** Store keys of a received file's name and content type (JSON `{name, contentType}`; same id as FILE_PREFIX). */
export const FILE_INFO_PREFIX = 'cli/file-info/';

export interface ProfileInfo {
  /** 2: encrypted at rest (this version); 1: written unencrypted by an older version, encrypted on its next open. */
  readonly version: 1 | 2;
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
  /** The relay's access execution key (base64), when it runs accountable access (overdue seals, notices). */
  readonly accessKey?: string;
}

function pinnedOf(anchors: TrustAnchors): PinnedTrust {
  return {
    log: anchors.log,
    adminKey: toBase64(anchors.adminKey),
    ...(anchors.accessKey !== undefined ? { accessKey: toBase64(anchors.accessKey) } : {}),
  };
}

function anchorsOf(pinned: PinnedTrust): TrustAnchors {
  return {
    log: pinned.log,
    adminKey: fromBase64(pinned.adminKey),
    ...(pinned.accessKey !== undefined ? { accessKey: fromBase64(pinned.accessKey) } : {}),
  };
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

/** Replaces `path` atomically with `data` (private temporary file, fsync, rename). */
function replaceFile(path: string, data: Uint8Array): void {
  const tmp = `${path}.${process.pid}.${toHex(randomBytes(4))}.tmp`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function json(value: unknown): Uint8Array {
  return utf8Encode(`${JSON.stringify(value, null, 2)}\n`);
}

/** Fetches the relay's `/.well-known/overt` document (docs/spec/start.md §2). */
export async function fetchWellKnownDoc(relay: string): Promise<{ org?: unknown } | undefined> {
  let url: URL;
  try {
    url = new URL('/.well-known/overt', relay);
  } catch {
    throw new UsageError(`--relay ${JSON.stringify(relay)} is not a URL (e.g. http://127.0.0.1:8420)`);
  }
  let res: Response;
  let body: string;
  try {
    res = await fetch(url);
    body = await res.text();
  } catch (cause) {
    throw new UnavailableError(
      `cannot reach the relay at ${relay} (${networkReason(cause) ?? (cause as Error).message})`,
    );
  }
  // Status and content type first: a web server that is not a relay answers 404 or HTML (cli.md §4.1).
  const type = res.headers.get('content-type') ?? '';
  if (!res.ok)
    throw new UnavailableError(
      `${relay} is not an Overt relay: GET /.well-known/overt answered HTTP ${res.status}`,
    );
  if (!/^application\/([a-z.+-]*\+)?json\b/i.test(type))
    throw new UnavailableError(
      `${relay} is not an Overt relay: /.well-known/overt is ${type.split(';')[0] || 'untyped'}, not JSON`,
    );
  try {
    return JSON.parse(body) as { org?: unknown };
  } catch {
    throw new UnavailableError(`${relay} is not an Overt relay: /.well-known/overt is not valid JSON`);
  }
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

/** Rewrites profile.json atomically. */
function rewriteProfile(dir: string, info: ProfileInfo): void {
  replaceFile(join(dir, PROFILE_JSON), json(info));
}

/**
 * Creates a new profile locked with `secret`; refuses a directory that already holds one (a device key is never
 * overwritten). Returns the device's key pair.
 */
export async function initProfile(
  dir: string,
  info: Omit<ProfileInfo, 'version'>,
  secret: ProfileSecret,
): Promise<SigningKeyPair> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  assertNoProfile(dir);
  const { key: profileKey, file } = createProfileKey(secret);
  const seed = randomBytes(32);
  const key = signingKeyFromSeed(seed);
  try {
    // The device key is linked into place with O_EXCL semantics: a concurrent init cannot overwrite it.
    writeNewFile(join(dir, DEVICE_KEY), sealRecord(profileKey, DEVICE_KEY_LABEL, seed));
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST')
      throw new UsageError(`${dir} already holds a device profile`);
    throw e;
  } finally {
    seed.fill(0);
  }
  writeNewFile(join(dir, KEY_FILE), json(file));
  writeNewFile(join(dir, PROFILE_JSON), json({ version: PROFILE_VERSION, ...info }));
  await FileStore.open(join(dir, 'store'), { key: profileKey });
  profileKey.fill(0);
  return key;
}

/** Refuses a directory that already holds a profile (before asking for a passphrase for a new one). */
export function assertNoProfile(dir: string): void {
  if ([PROFILE_JSON, KEY_FILE, DEVICE_KEY].some((f) => existsSync(join(dir, f))))
    throw new UsageError(`${dir} already holds a device profile`);
}

/** A profile unlocked: its key pair and its store, no relay contacted. */
export interface UnlockedProfile {
  readonly dir: string;
  readonly info: ProfileInfo;
  readonly key: SigningKeyPair;
  readonly store: FileStore;
}

export interface OpenProfile extends UnlockedProfile {
  readonly client: OvertClient;
}

function locked(dir: string, code: string, check: string | undefined): LockedError {
  return new LockedError(
    `the passphrase does not unlock ${dir} [${code} ${check}]; check --passphrase-file or $OVERT_PASSPHRASE`,
  );
}

function malformedProfile(dir: string): UsageError {
  return new UsageError(`${dir} holds a malformed device profile`);
}

const LEGACY_DEVICE_KEY = /^[0-9a-f]{64}\n?$/;

/** The device key file as legacy hex text (the seed), or undefined when it is not that. */
function legacySeed(bytes: Uint8Array): Uint8Array | undefined {
  let text: string;
  try {
    text = utf8Decode(bytes);
  } catch {
    return undefined;
  }
  return LEGACY_DEVICE_KEY.test(text) ? fromHex(text.trim()) : undefined;
}

/**
 * Finishes encrypting a profile written by version 1 (cli.md §3.2), under `key`, whose key file is already in
 * place: seals the store's plaintext records, moves received files into the store, and then — the commit point —
 * replaces the hex device key by its sealed record. Every step can be repeated, so a crash is finished next time.
 * Once the device key is sealed, plaintext files are never imported again.
 */
async function finishEncryption(dir: string, key: Uint8Array, deviceKey: Uint8Array): Promise<void> {
  const seed = legacySeed(deviceKey);
  if (seed !== undefined) {
    const store = await FileStore.open(join(dir, 'store'), { key });
    await store.sealPlaintextFiles();
    const files = join(dir, 'files');
    if (existsSync(files)) {
      for (const f of await readdir(files)) {
        try {
          fromBase64Url(f);
        } catch {
          continue;
        }
        await store.put(`${FILE_PREFIX}${f}`, new Uint8Array(await readFile(join(files, f))));
        rmSync(join(files, f), { force: true });
      }
      await rmdir(files).catch(() => undefined);
    }
    replaceFile(join(dir, DEVICE_KEY), sealRecord(key, DEVICE_KEY_LABEL, seed));
    seed.fill(0);
  }
}

/**
 * Unlocks the profile in `dir` with the secret `secrets` gives, encrypting it first if an older version wrote it
 * unencrypted. Contacts no relay. @throws UsageError for a missing or malformed profile, LockedError when it does
 * not unlock, ClientError SDK_STORE_MALFORMED (REST-1, REST-2) for a key file or device key that is damaged.
 */
export async function unlockProfile(dir: string, secrets: SecretSource): Promise<UnlockedProfile> {
  let info: ProfileInfo;
  let deviceKey: Uint8Array;
  try {
    info = JSON.parse(await readFile(join(dir, PROFILE_JSON), 'utf8')) as ProfileInfo;
    const st = await stat(join(dir, DEVICE_KEY));
    if ((st.mode & 0o077) !== 0)
      throw new UsageError(`${join(dir, DEVICE_KEY)} is accessible by others; chmod 600 it`);
    deviceKey = new Uint8Array(await readFile(join(dir, DEVICE_KEY)));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${dir} is not a device profile (run 'overt device init' first)`);
  }
  if (
    (info?.version !== 1 && info?.version !== PROFILE_VERSION) ||
    typeof info.relay !== 'string' ||
    typeof info.org !== 'string' ||
    typeof info.user !== 'string' ||
    typeof info.device !== 'string'
  )
    throw malformedProfile(dir);
  let profileKey: Uint8Array;
  if (!existsSync(join(dir, KEY_FILE))) {
    // Only an old, unencrypted profile has no key file: encrypt it now, under a passphrase chosen now.
    if (info.version !== 1 || legacySeed(deviceKey) === undefined) throw malformedProfile(dir);
    const secret = await secrets.forNew(
      `${dir} was written unencrypted by an older version of overt; choose a passphrase to encrypt it.`,
    );
    const created = createProfileKey(secret);
    try {
      writeNewFile(join(dir, KEY_FILE), json(created.file));
    } catch (e) {
      if ((e as { code?: string }).code === 'EEXIST')
        throw new UsageError(`another overt is encrypting ${dir} right now; run the command again`);
      throw e;
    }
    profileKey = created.key;
  } else {
    let file: ProfileKeyFile;
    try {
      file = parseProfileKeyFile(JSON.parse(await readFile(join(dir, KEY_FILE), 'utf8')));
    } catch (e) {
      if (isClientError(e)) throw e;
      throw malformedProfile(dir);
    }
    try {
      profileKey = unlockProfileKey(file, await secrets.forUnlock(file.kdf.name, dir));
    } catch (e) {
      if (isClientError(e, 'SDK_STORE_LOCKED')) throw locked(dir, e.code, e.check);
      throw e;
    }
  }
  if (info.version === 1) {
    await finishEncryption(dir, profileKey, deviceKey);
    deviceKey = new Uint8Array(await readFile(join(dir, DEVICE_KEY)));
    info = { ...info, version: PROFILE_VERSION };
    rewriteProfile(dir, info);
    secrets.note(`overt: ${dir} is now encrypted at rest (it was written by an older version).`);
  }
  const seed = openRecord(profileKey, DEVICE_KEY_LABEL, deviceKey);
  if (seed.length !== 32) throw malformedProfile(dir);
  const key = signingKeyFromSeed(seed);
  seed.fill(0);
  // A batch left by a killed process is finished under the profile lock (profileLock), not here.
  const store = await FileStore.open(join(dir, 'store'), { key: profileKey, recover: false });
  profileKey.fill(0);
  return { dir, info, key, store };
}

/**
 * Changes the passphrase of a profile: unlocks it with the current secret, then wraps the same profile key anew for
 * the new one (fresh salt and nonce) and writes the key file atomically. No record is rewritten.
 */
export async function changePassphrase(dir: string, secrets: SecretSource): Promise<void> {
  if (!existsSync(join(dir, KEY_FILE))) {
    // An old unencrypted profile: encrypting it asks for the (first) passphrase.
    await unlockProfile(dir, secrets);
    return;
  }
  const file = parseProfileKeyFile(JSON.parse(await readFile(join(dir, KEY_FILE), 'utf8')));
  let profileKey: Uint8Array;
  try {
    profileKey = unlockProfileKey(file, await secrets.forUnlock(file.kdf.name, dir));
  } catch (e) {
    if (isClientError(e, 'SDK_STORE_LOCKED')) throw locked(dir, e.code, e.check);
    throw e;
  }
  const secret = await secrets.forChange();
  replaceFile(join(dir, KEY_FILE), json(wrapProfileKey(profileKey, secret)));
  profileKey.fill(0);
}

/**
 * The profile's one-writer lock (cli.md §3.3, client.md §4.8): taken by the client around each operation, so
 * `overt watch` holds it only while it syncs; a batch a killed holder left half-applied is finished on taking it.
 * A second process waits up to OVERT_PROFILE_LOCK_WAIT seconds (default 60), then fails with "profile in use by
 * pid N" (SDK_STORE_BUSY).
 */
export function profileLock(dir: string, store: FileStore): () => Promise<() => Promise<void>> {
  const env = process.env.OVERT_PROFILE_LOCK_WAIT;
  const waitMs = env !== undefined && /^[0-9]{1,6}$/.test(env) ? Number(env) * 1000 : STORE_LOCK_WAIT_MS;
  return async () => {
    const release = await lockStoreDir(dir, { waitMs });
    try {
      await store.recover();
    } catch (e) {
      await release();
      throw e;
    }
    return release;
  };
}

/**
 * Unlocks a profile and opens its client; tops up the published key packages. @throws UsageError for a bad
 * profile, LockedError when it does not unlock.
 */
export async function openProfile(dir: string, secrets: SecretSource): Promise<OpenProfile> {
  const unlocked = await unlockProfile(dir, secrets);
  let { info } = unlocked;
  const { key, store } = unlocked;
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
  const client = await OvertClient.open({
    lock: profileLock(dir, store),
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
    // Node's HTTP modules rather than the global fetch, which compiles its undici on first use (issue #9).
    fetch: httpFetch,
    // Node 20 has no global WebSocket; `ws` (the relay's own) serves the mailbox socket.
    WebSocket: (globalThis.WebSocket as unknown as WebSocketConstructor | undefined) ?? LazyWebSocket,
  });
  if ((await store.list('kp/')).length < KEY_PACKAGE_LOW) await client.publishKeyPackages(KEY_PACKAGE_BATCH);
  return { dir, info, key, store, client };
}
