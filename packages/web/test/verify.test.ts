/**
 * The dashboard's own checks (docs/spec/web.md §1, §2) on malformed and changed input, without a browser: the
 * well-known document (WEB-1), the anchors pinned on the first visit (WEB-2), an entry index outside the checkpoint
 * (WEB-3). The checks of the log itself, in a real browser against a real relay: dashboard-browser.test.ts.
 */
import { toBase64 } from '@overt/core';
import {
  formatVerifierKey,
  generateSignerKey,
  SIGNATURE_TYPE_COSIGNATURE,
  type VerifiedCheckpoint,
} from '@overt/log';
import { describe, expect, it } from 'vitest';
import { type KeyValue, lookupEntry, parseAnchors, WebCheckError } from '../src/verify.js';

function memory(): KeyValue & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v) };
}

const log = generateSignerKey('example.org/log');
const witness = generateSignerKey('witness.example.org', SIGNATURE_TYPE_COSIGNATURE);
const key32 = toBase64(new Uint8Array(32).fill(7));

function doc(overrides: Record<string, unknown> = {}, logOverrides: Record<string, unknown> = {}) {
  return {
    org: 'example.org',
    admin_key: key32,
    accessKey: key32,
    unsealKey: key32,
    franking_key: key32,
    log: {
      origin: 'example.org/log',
      url: 'http://elsewhere.test/log/',
      vkey: formatVerifierKey(log),
      witness_vkeys: [formatVerifierKey(witness)],
      witness_quorum: 1,
      ...logOverrides,
    },
    ...overrides,
  };
}

function failsWith(f: () => unknown, code: string, check: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(WebCheckError);
    expect((e as WebCheckError).code).toBe(code);
    expect((e as WebCheckError).check).toBe(check);
    return;
  }
  throw new Error('expected a failure');
}

describe('the dashboard’s own checks (web.md)', () => {
  it('reads the anchors and the log below the page’s own origin', () => {
    const a = parseAnchors(doc(), 'http://relay.test:8420/', memory());
    expect(a.logUrl).toBe('http://relay.test:8420/log/');
    expect(a.policy.origin).toBe('example.org/log');
    expect(a.policy.witnesses.quorum).toBe(1);
    expect(a.access.orgId).toBe('example.org');
  });

  it('refuses a malformed /.well-known/overt (WEB-1)', () => {
    const s = memory();
    for (const bad of [
      null,
      [],
      'text',
      doc({ org: 3 }),
      doc({ admin_key: 'not base64!' }),
      doc({ accessKey: toBase64(new Uint8Array(31)) }),
      doc({ log: undefined }),
      doc({}, { vkey: 'garbage' }),
      doc({}, { vkey: formatVerifierKey(witness) }),
      doc({}, { witness_vkeys: [7] }),
      doc({}, { witness_quorum: 1.5 }),
      doc({}, { witness_quorum: 2 }),
    ])
      failsWith(() => parseAnchors(bad, 'http://relay.test/', s), 'WEB_ANCHORS_MALFORMED', 'WEB-1');
  });

  it('flags anchors that differ from the pinned ones (WEB-2)', () => {
    const s = memory();
    const a = parseAnchors(doc(), 'http://relay.test/', s);
    s.setItem('overt.dashboard.anchors', a.pin);
    expect(parseAnchors(doc(), 'http://relay.test/', s).pin).toBe(a.pin);
    const other = generateSignerKey('example.org/log');
    failsWith(
      () => parseAnchors(doc({}, { vkey: formatVerifierKey(other) }), 'http://relay.test/', s),
      'WEB_ANCHORS_CHANGED',
      'WEB-2',
    );
    failsWith(
      () => parseAnchors(doc({}, { witness_vkeys: [], witness_quorum: 0 }), 'http://relay.test/', s),
      'WEB_ANCHORS_CHANGED',
      'WEB-2',
    );
  });

  it('refuses an entry index outside the checkpoint (WEB-3)', async () => {
    // Only the size is read before the range check; no request is made.
    const cp = { size: 4 } as VerifiedCheckpoint;
    const noFetch = async () => {
      throw new Error('no request expected');
    };
    for (const i of [-1, 4, 1.5, Number.NaN])
      await expect(lookupEntry(noFetch, 'http://relay.test/log/', cp, i)).rejects.toMatchObject({
        code: 'WEB_INDEX_RANGE',
        check: 'WEB-3',
      });
  });
});
