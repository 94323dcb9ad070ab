// The requester's collect (docs/spec/access.md §8) over a real case: a real tiled log with two witnesses, a real
// trustee-signed epoch key, real envelopes, requests, decisions, execution and HPKE-sealed share bundles. Every
// message opens to its text or file; a bad share names its trustee (ACC-A9); a log view that does not match its
// checkpoint (ACC-Q1), a bundle that does not open (ACC-Q5), a wrong envelope set (ACC-Q7) fail the case.
import {
  concatBytes,
  deviceEntry,
  generateDkgEncryptionKey,
  isOvertError,
  openConfidential,
  RELAY_PART_INDEX,
  type ShareBundle,
  sha256,
  signDeviceStatement,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { SEND_TIME, senderSigningKey } from '../../../core/test/envelope-fixtures.js';
import { DAY, orgKey, requesterKeys, verifiedPolicy } from '../../../core/test/workflow-fixtures.js';
import { type AccessCaseFixture, buildAccessCase, logViewOf, relayKey } from '../../test/access-case.js';
import { ClientError } from '../errors.js';
import { buildRequest, type CollectInput, collect, fileRequest } from './requester.js';

let fx: AccessCaseFixture;
beforeAll(async () => {
  fx = await buildAccessCase();
});

function input(f: AccessCaseFixture, over: Partial<CollectInput> = {}): CollectInput {
  return {
    orgKey: orgKey.publicKey,
    relayKey: relayKey.publicKey,
    requestId: f.built.verified.request.requestId,
    log: { checkpoint: f.checkpoint, entries: f.entries },
    releases: f.releases,
    envelopes: f.envelopes,
    secretKey: f.requesterSecretKey,
    ...over,
  };
}

async function caseError(p: Promise<unknown>): Promise<ClientError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ClientError);
  return e as ClientError;
}

describe('collect (access.md §8)', () => {
  it('opens every executed envelope to its text or file, from k verified shares', async () => {
    const out = await collect(input(fx));
    expect(out.verdicts).toHaveLength(3);
    for (const [p, v] of out.verdicts.entries()) {
      expect(v.ok).toBe(true);
      if (!v.ok) continue;
      const want = fx.plaintexts[p]!;
      expect(v.content.contentType).toBe(want.contentType);
      if (want.text !== undefined) expect(utf8Decode(v.content.payload)).toBe(want.text);
      else {
        expect(v.content.fileName).toBe(want.fileName);
        expect(v.content.payload).toEqual(want.data);
      }
      expect(v.trustees).toEqual([1, 2]);
      expect(v.badShares).toEqual([]);
    }
  });

  it('ACC-A9: a bad share names its trustee, and the message does not open from fewer than k', async () => {
    const bad = await buildAccessCase((trustee, b: ShareBundle) =>
      trustee === 2
        ? { ...b, shares: b.shares.map((s, i) => (i === 1 ? { ...s, share: b.shares[0]!.share } : s)) }
        : b,
    );
    const out = await collect(input(bad));
    const v = out.verdicts[1]!;
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.code).toBe('ACCESS_BAD_SHARE');
    expect(v.check).toBe('ACC-A9');
    expect(v.reason).toContain('trustee 2');
    expect(v.badShares.map((s) => s.trustee)).toEqual([2]);
    expect(out.verdicts[0]!.ok).toBe(true);
    expect(out.verdicts[2]!.ok).toBe(true);
  });

  it('ACC-A10: after a resharing (same group key, newer policy) shares are checked against the statement in force at their release; releases on both sides of it do not combine (SHR-10)', async () => {
    const after = await buildAccessCase(undefined, { reshare: 'before' });
    const ok = await collect(input(after));
    for (const v of ok.verdicts) {
      expect(v.ok).toBe(true);
      if (v.ok) expect(v.epochKeyIndex).toBe(after.reshareIndex);
    }
    const mixed = await buildAccessCase(undefined, { reshare: 'between' });
    const out = await collect(input(mixed));
    for (const v of out.verdicts) {
      expect(v.ok).toBe(false);
      if (v.ok) continue;
      expect(v.code).toBe('ACCESS_BAD_SHARE');
      expect(v.reason).toContain('trustee 1 (ACC-A10)');
      expect(v.badShares).toEqual([
        expect.objectContaining({ trustee: 1, code: 'SHARE_WRONG_KEY_SET', check: 'ACC-A10' }),
      ]);
    }
  });

  it('ACC-Q1: a log view whose entries do not hash to its checkpoint fails', async () => {
    const entries = fx.entries.map((e, i) => (i === 1 ? concatBytes(e, Uint8Array.of(0)) : e));
    const e = await caseError(collect(input(fx, { log: { checkpoint: fx.checkpoint, entries } })));
    expect(e.check).toBe('ACC-Q1');
  });

  it('ACC-Q5: a sealed bundle that is not the one its release names fails the case', async () => {
    const releases = fx.releases.map((r, i) => (i === 0 ? { ...r, sealed: fx.releases[1]!.sealed } : r));
    const e = await caseError(collect(input(fx, { releases })));
    expect(e.check).toBe('ACC-Q5');
    expect(e.message).toContain('trustee 1');
  });

  it('ACC-Q7: a missing or reordered envelope fails the case', async () => {
    const e1 = await caseError(collect(input(fx, { envelopes: fx.envelopes.slice(0, 2) })));
    expect(e1.check).toBe('ACC-Q7');
    const swapped = fx.envelopes.map((e, i) => ({ ...fx.envelopes[(i + 1) % 3]!, position: e.position }));
    const e2 = await caseError(collect(input(fx, { envelopes: swapped })));
    expect(e2.check).toBe('ACC-Q7');
  });

  it('ACC-Q11: a message sent after its device was removed (a full log view shows it) is not accepted', async () => {
    const f = await buildAccessCase();
    f.log.append(
      deviceEntry(
        'removed',
        signDeviceStatement(orgKey, {
          kind: 'removed',
          orgId: 'example.org',
          userId: 'alice@example.org',
          deviceId: 'alice-laptop',
          identityKey: senderSigningKey.publicKey,
          time: SEND_TIME - 1,
        }),
      ),
    );
    const out = await collect(input(f, { log: logViewOf(f.log) }));
    const byFrom = out.verdicts.map((v) => [v.header?.senderUserId, v.ok ? 'ok' : v.check]);
    expect(byFrom.filter(([u]) => u === 'alice@example.org').map(([, c]) => c)).toEqual([
      'ACC-Q11',
      'ACC-Q11',
    ]);
    expect(byFrom.filter(([u]) => u === 'bob@example.org').map(([, c]) => c)).toEqual(['ok']);
  });

  it('the requester secret key is needed: another key does not open the bundles', async () => {
    const e = await caseError(collect(input(fx, { secretKey: new Uint8Array(32).fill(7) })));
    expect(e.check).toBe('ACC-Q5');
    expect(e.message).not.toMatch(/[0-9a-f]{32}/);
  });
});

describe('the relay part (after-release.md §1)', () => {
  it("buildRequest seals the opening to the relay's unseal key under index 0 when given one, and fileRequest sends it", async () => {
    const relay = await generateDkgEncryptionKey();
    const p = {
      policy: verifiedPolicy,
      requesterId: 'internal-investigations',
      signingKey: requesterKeys.internal,
      legalBasis: 'order',
      documentHash: sha256(utf8Encode('order')),
      subjects: ['alice@example.org'],
      window: { from: SEND_TIME - DAY, until: SEND_TIME + DAY },
      maxEnvelopes: 10,
      sealUntil: SEND_TIME + 30 * DAY,
      createdAt: SEND_TIME,
      confidential: { justification: 'why', caseReference: 'c' },
    };
    const built = await buildRequest({ ...p, relayUnsealKey: relay.publicKey });
    const opened = await openConfidential(
      relay.secretKey,
      RELAY_PART_INDEX,
      built.verified,
      built.relaySealed!,
    );
    expect(opened.confidential).toEqual({ justification: 'why', caseReference: 'c' });
    // Not under a trustee's index, and not with another key.
    for (const [key, index] of [
      [relay.secretKey, 1],
      [(await generateDkgEncryptionKey()).secretKey, 0],
    ] as const) {
      const e = await openConfidential(key, index, built.verified, built.relaySealed!).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(isOvertError(e) && e.code).toBe('CONFIDENTIAL_INVALID');
    }
    const sent: unknown[][] = [];
    const fake = {
      fileRequest: async (...args: unknown[]) => {
        sent.push(args);
        return { requestId: built.verified.request.requestId, index: 1, created: true };
      },
    } as unknown as Parameters<typeof fileRequest>[0];
    await fileRequest(fake, built);
    expect(sent[0]![2]).toEqual(built.relaySealed);
    // Without a key: no relay part, and none sent.
    const plain = await buildRequest(p);
    expect(plain.relaySealed).toBeUndefined();
    await fileRequest(fake, plain);
    expect(sent[1]![2]).toBeUndefined();
  });
});
