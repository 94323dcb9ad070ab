/**
 * The relay's own keys, loaded (or made on first start) from its data directory — the one loader of `overt up`
 * (system.ts) and `overt relay serve` (relay-node.ts), docs/spec/start.md §1, §4.4:
 *
 *   log/log.key            the log's checkpoint key (`<org>/log`, signed-note signer key, mode 0600)
 *   relay/franking.key     the franking key (relay.md §10), kept so stamps made before a restart stay reportable
 *   relay/access.key       the execution key (access.md §4.1), kept so trustees keep verifying executions
 *   relay/unseal.key       the 32-byte seed of the X25519 unseal key (after-release.md §1)
 */
import { join } from 'node:path';
import { deriveDkgEncryptionKey } from '@overt/core';
import { formatVerifierKey, SIGNATURE_TYPE_ED25519, type SignerKey, verifierKeyOf } from '@overt/log';
import { loadOrCreateKeyFile } from '@overt/witness';
import { loadOrCreateSecretFile, SECRET_BYTES } from './files.js';

export interface RelayKeys {
  readonly logKey: SignerKey;
  /** The log's verifier key (type 0x01), as the well-known document and witnesses name it. */
  readonly logVkey: string;
  readonly franking: SignerKey;
  readonly accessKey: SignerKey;
  readonly unsealKey: Awaited<ReturnType<typeof deriveDkgEncryptionKey>>;
}

function signer(path: string, name: string): SignerKey {
  return loadOrCreateKeyFile(path, SIGNATURE_TYPE_ED25519, name, () => name).key;
}

/** The log key under `<dataDir>/log`, the relay's keys under `<dataDir>/relay`; made when absent. */
export async function loadRelayKeys(dataDir: string, org: string, origin: string): Promise<RelayKeys> {
  const logKey = signer(join(dataDir, 'log', 'log.key'), origin);
  return {
    logKey,
    logVkey: formatVerifierKey(verifierKeyOf(logKey)),
    franking: signer(join(dataDir, 'relay', 'franking.key'), `${org}/franking`),
    accessKey: signer(join(dataDir, 'relay', 'access.key'), `${org}/access`),
    unsealKey: await deriveDkgEncryptionKey(
      loadOrCreateSecretFile(join(dataDir, 'relay', 'unseal.key'), SECRET_BYTES).secret,
    ),
  };
}
