/**
 * Trust anchors for tests that never reach a relay (stored state, argument checks): a fresh log key and admin
 * key, a log URL on a port nothing listens on, one witness key (quorum 1: the least the anchors accept).
 */
import { generateSigningKey } from '@overt/core';
import { formatVerifierKey, generateSignerKey, SIGNATURE_TYPE_COSIGNATURE, verifierKeyOf } from '@overt/log';
import type { TrustAnchors } from '../src/index.js';

export function unreachableTrust(): TrustAnchors {
  return {
    log: {
      origin: 'o.test/log',
      url: 'http://127.0.0.1:1/log/',
      vkey: formatVerifierKey(verifierKeyOf(generateSignerKey('o.test/log'))),
      witnessVkeys: [
        formatVerifierKey(verifierKeyOf(generateSignerKey('w.o.test', SIGNATURE_TYPE_COSIGNATURE))),
      ],
      witnessQuorum: 1,
    },
    adminKey: generateSigningKey().publicKey,
  };
}
