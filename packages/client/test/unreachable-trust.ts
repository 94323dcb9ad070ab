/**
 * Trust anchors for tests that never reach a relay (stored state, argument checks): a fresh log key and admin
 * key, a log URL on a port nothing listens on, no witnesses.
 */
import { generateSigningKey } from '@overt/core';
import { formatVerifierKey, generateSignerKey, verifierKeyOf } from '@overt/log';
import type { TrustAnchors } from '../src/index.js';

export function unreachableTrust(): TrustAnchors {
  return {
    log: {
      origin: 'o.test/log',
      url: 'http://127.0.0.1:1/log/',
      vkey: formatVerifierKey(verifierKeyOf(generateSignerKey('o.test/log'))),
      witnessVkeys: [],
      witnessQuorum: 0,
    },
    adminKey: generateSigningKey().publicKey,
  };
}
