/**
 * `overt init` for a real organisation (docs/spec/start.md §4.4): writes the relay's data directory from what the
 * parties handed over — the trustees' public keys (`overt trustee init`), the witnesses' URLs and vkeys
 * (`overt witness init`), the requesters' public keys — and the operator's choices (k, quorum, limits, retention).
 * It signs the organisation's first policy with the admin key and leaves it in `policy.signed` for the relay to log
 * at its first start (§4.4.3). Nothing here talks to a network, and nothing secret is returned or printed.
 *
 *   overt.json      {"version": 1, "org", "origin"} (the file `overt up` writes, system.ts)
 *   relay.json      {"version": 1, "adminKey", "witnesses": [{"url", "vkey"}]}
 *   policy.signed   the admin-signed policy (workflow.md §2)
 *   log/log.key, relay/franking.key, relay/access.key, relay/unseal.key   (relay-keys.ts)
 *
 * The admin key itself is the caller's: the CLI generates it and seals it under a passphrase, or takes the
 * operator's (start.md §4.4.2); the relay only ever needs its public half.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  fromBase64,
  type PolicyLimits,
  type RequesterEntry,
  type SigningKeyPair,
  signPolicy,
  toBase64,
  utf8Encode,
  type VerifiedPolicy,
  verifyPolicy,
} from '@overt/core';
import { parseVerifierKey } from '@overt/log';
import { StandaloneError } from './errors.js';
import { loadOrCreateSecretFile, writeFileAtomic } from './files.js';
import {
  buildOrgPolicy,
  type PolicyTrustee,
  REQUESTER_SECRET_BYTES,
  requesterKeysFromSecret,
} from './policy.js';
import { loadRelayKeys } from './relay-keys.js';
import { isStartOrgId, loadState } from './system.js';

export const RELAY_CONFIG_FILE = 'relay.json';
export const POLICY_FILE = 'policy.signed';
const STATE_FILE = 'overt.json';

/** A witness the relay's sequencer asks: where it listens and its cosignature key (type 0x04 vkey). */
export interface DeploymentWitness {
  readonly url: string;
  readonly vkey: string;
}

/** `relay.json`: what `overt relay serve` needs beyond the policy. */
export interface RelayConfigFile {
  readonly version: 1;
  /** The org admin's Ed25519 public key, standard base64. */
  readonly adminKey: string;
  readonly witnesses: readonly DeploymentWitness[];
}

export interface InitOptions {
  readonly dataDir: string;
  readonly org: string;
  readonly admin: SigningKeyPair;
  readonly trustees: readonly PolicyTrustee[];
  readonly threshold: number;
  readonly witnesses: readonly DeploymentWitness[];
  readonly witnessQuorum: number;
  /** Requesters whose public keys were handed over. */
  readonly requesters: readonly RequesterEntry[];
  /** Requesters made here: a 32-byte secret each in `requesters/<id>.key` (keys derived as start.md §4.3). */
  readonly newRequesters: readonly { readonly id: string; readonly name: string }[];
  readonly limits: PolicyLimits;
  readonly retentionMs: number;
  readonly now: number;
}

export interface InitResult {
  readonly dataDir: string;
  readonly org: string;
  readonly origin: string;
  readonly logVkey: string;
  readonly policy: VerifiedPolicy;
  /** base64 of the policy's hash, which each trustee can compare with what its daemon sees on the log. */
  readonly policyHash: string;
  readonly requesterKeyFiles: readonly { readonly id: string; readonly path: string }[];
}

function initError(message: string, check: string, cause?: unknown): StandaloneError {
  return new StandaloneError('INIT_CONFIG', message, { check, cause });
}

/**
 * Writes a new relay data directory. INIT_CONFIG (INIT-1) when `dataDir` already holds an Overt directory or an
 * option is malformed; core's POLICY_INVALID (WF-P1) for a policy that does not validate — in both cases before
 * any file is written.
 */
export async function initDeployment(o: InitOptions): Promise<InitResult> {
  const dataDir = resolve(o.dataDir);
  if (existsSync(join(dataDir, STATE_FILE)))
    throw initError(
      `${dataDir} already holds an Overt data directory (overt.json); run \`overt relay serve --data ${o.dataDir}\`, or init another --data`,
      'INIT-1',
    );
  if (!isStartOrgId(o.org))
    throw initError('the org id must be 1 to 64 printable ASCII characters without "+"', 'INIT-1');
  if (o.witnesses.length === 0) throw initError('give at least one witness', 'INIT-1');
  for (const w of o.witnesses) {
    const key = parseVerifierKey(w.vkey);
    if (key.type !== 0x04)
      throw initError(`the witness key ${key.name} is not a cosignature (type 0x04) vkey`, 'INIT-1');
  }
  const ids = [...o.requesters.map((r) => r.id), ...o.newRequesters.map((r) => r.id)];
  if (new Set(ids).size !== ids.length) throw initError('a requester id is given twice', 'INIT-1');

  // New requesters' secrets are drawn first but written only once the policy validated.
  const fresh = o.newRequesters.map((r) => ({
    ...r,
    secret: new Uint8Array(randomBytes(REQUESTER_SECRET_BYTES)),
  }));
  const made: RequesterEntry[] = [];
  for (const r of fresh) {
    const { signingKey, encryption } = await requesterKeysFromSecret(r.secret);
    encryption.secretKey.fill(0);
    made.push({
      id: r.id,
      name: r.name,
      signingKey: signingKey.publicKey,
      encryptionKey: encryption.publicKey,
    });
  }
  const policy = buildOrgPolicy({
    orgId: o.org,
    trustees: o.trustees,
    threshold: o.threshold,
    witnessVkeys: o.witnesses.map((w) => w.vkey),
    witnessQuorum: o.witnessQuorum,
    requesters: [...o.requesters, ...made],
    limits: o.limits,
    retentionMs: o.retentionMs,
    now: o.now,
  });
  const signed = signPolicy(policy, o.admin); // validates: POLICY_INVALID before anything is written
  const verified = verifyPolicy(signed, o.admin.publicKey);

  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const origin = `${o.org}/log`;
  const keys = await loadRelayKeys(dataDir, o.org, origin);
  keys.unsealKey.secretKey.fill(0);
  const config: RelayConfigFile = {
    version: 1,
    adminKey: toBase64(o.admin.publicKey),
    witnesses: o.witnesses.map((w) => ({ url: w.url, vkey: w.vkey })),
  };
  writeFileAtomic(join(dataDir, RELAY_CONFIG_FILE), utf8Encode(`${JSON.stringify(config, null, 2)}\n`));
  writeFileAtomic(join(dataDir, POLICY_FILE), signed);
  const requesterKeyFiles: { id: string; path: string }[] = [];
  if (fresh.length > 0) mkdirSync(join(dataDir, 'requesters'), { recursive: true, mode: 0o700 });
  for (const r of fresh) {
    const path = join(dataDir, 'requesters', `${r.id}.key`);
    writeFileAtomic(path, r.secret);
    r.secret.fill(0);
    loadOrCreateSecretFile(path, REQUESTER_SECRET_BYTES).secret.fill(0); // checks mode and length
    requesterKeyFiles.push({ id: r.id, path });
  }
  // overt.json last: it marks the directory as initialised (INIT-1), so an init that failed half way can be re-run.
  const state = loadState(dataDir, o.org);
  return {
    dataDir,
    org: state.org,
    origin: state.origin,
    logVkey: keys.logVkey,
    policy: verified,
    policyHash: toBase64(verified.hash),
    requesterKeyFiles,
  };
}

/** What `overt relay serve` reads from an initialised directory. INIT_CONFIG (INIT-2) when it is not one. */
export function readDeployment(dataDir: string): {
  config: RelayConfigFile;
  adminKey: Uint8Array;
  signedPolicy: Uint8Array;
} {
  const dir = resolve(dataDir);
  const configPath = join(dir, RELAY_CONFIG_FILE);
  const policyPath = join(dir, POLICY_FILE);
  if (!existsSync(join(dir, STATE_FILE)) || !existsSync(configPath) || !existsSync(policyPath))
    throw initError(
      `${dir} is not a relay data directory made by \`overt init\` (overt.json, relay.json, policy.signed); run \`overt init --data ${dataDir} …\` first`,
      'INIT-2',
    );
  let config: RelayConfigFile;
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8')) as RelayConfigFile;
  } catch (e) {
    throw initError(`${configPath} is not valid JSON`, 'INIT-2', e);
  }
  const bad = () => initError(`${configPath} is not an Overt relay configuration`, 'INIT-2');
  if (
    typeof config !== 'object' ||
    config === null ||
    config.version !== 1 ||
    typeof config.adminKey !== 'string' ||
    !Array.isArray(config.witnesses) ||
    config.witnesses.length === 0 ||
    config.witnesses.some(
      (w) => typeof w !== 'object' || w === null || typeof w.url !== 'string' || typeof w.vkey !== 'string',
    )
  )
    throw bad();
  let adminKey: Uint8Array;
  try {
    adminKey = fromBase64(config.adminKey);
    for (const w of config.witnesses) {
      parseVerifierKey(w.vkey);
      const u = new URL(w.url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    }
  } catch (e) {
    throw initError(`${configPath} is not an Overt relay configuration`, 'INIT-2', e);
  }
  if (adminKey.length !== 32) throw bad();
  return { config, adminKey, signedPolicy: new Uint8Array(readFileSync(policyPath)) };
}
