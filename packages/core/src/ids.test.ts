// foundations.md §8 (one limit per kind of identifier, used by every validator) and §9 (byte order: raw bytes,
// unsigned, first difference decides, a proper prefix first), checked through the validators that rely on them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { epochKey, fields, outcome } from '../test/envelope-fixtures.js';
import { request } from '../test/workflow-fixtures.js';
import { compareBytes, utf8Encode } from './bytes.js';
import { decodeDeviceStatement, signDeviceStatement } from './directory/statements.js';
import { createDkgSession } from './dkg/session.js';
import { decodeEnvelopeHead } from './envelope/envelope.js';
import * as envelopeFields from './envelope/fields.js';
import { validateHeader } from './envelope/header.js';
import { sealEnvelope } from './envelope/seal.js';
import {
  CONVERSATION_ID_MAX,
  DEVICE_ID_MAX,
  isDeviceId,
  isIdString,
  isOrgId,
  isUserId,
  ORG_ID_MAX,
  USER_ID_MAX,
} from './ids.js';
import { signingKeyFromSeed } from './sign.js';
import { encodeDecision } from './workflow/decision.js';
import { encodeRequest } from './workflow/request.js';

const admin = signingKeyFromSeed(new Uint8Array(32).fill(9));

describe('identifier limits (foundations.md §8)', () => {
  it('are defined once: the envelope module re-exports the same values', () => {
    expect([ORG_ID_MAX, USER_ID_MAX, DEVICE_ID_MAX, CONVERSATION_ID_MAX]).toEqual([64, 128, 64, 64]);
    expect(envelopeFields.ORG_ID_MAX).toBe(ORG_ID_MAX);
    expect(envelopeFields.USER_ID_MAX).toBe(USER_ID_MAX);
    expect(envelopeFields.DEVICE_ID_MAX).toBe(DEVICE_ID_MAX);
    expect(envelopeFields.CONVERSATION_ID_MAX).toBe(CONVERSATION_ID_MAX);
    expect(envelopeFields.isIdString).toBe(isIdString);
  });

  it('the same org id is accepted or refused alike by header, directory, DKG session and decision', async () => {
    const participants = [1, 2].map((i) => ({
      index: i,
      signingKey: signingKeyFromSeed(new Uint8Array(32).fill(i)).publicKey,
      encryptionKey: utf8Encode('k'.repeat(31) + String(i)),
    }));
    // Each use returns 'ok' or the code it refused with.
    const uses = async (org: string) => ({
      header: await outcome(() => sealEnvelope(fields({ orgId: org }), utf8Encode('hi'), epochKey)),
      directory: await outcome(() =>
        decodeDeviceStatement(
          'added',
          signDeviceStatement(admin, {
            kind: 'added',
            orgId: org,
            userId: 'alice',
            deviceId: 'laptop',
            identityKey: admin.publicKey,
            time: 0,
          }),
        ),
      ),
      dkg: await outcome(() => createDkgSession({ org, epoch: 1, attempt: 0, threshold: 1, participants })),
      decision: await outcome(() =>
        encodeDecision({
          version: 1,
          orgId: org,
          requestId: new Uint8Array(16),
          requestHash: new Uint8Array(32),
          trusteeIndex: 1,
          verdict: 'approve',
          decidedAt: 0,
          reason: '',
        }),
      ),
    });
    const longest = await uses('o'.repeat(ORG_ID_MAX));
    expect(Object.values(longest).every((r) => r === 'ok')).toBe(true);
    for (const bad of ['o'.repeat(ORG_ID_MAX + 1), 'has space', '', 'exämple'])
      expect(Object.values(await uses(bad)).some((r) => r === 'ok')).toBe(false);
    expect(isOrgId('o'.repeat(ORG_ID_MAX))).toBe(true);
    expect(isOrgId('o'.repeat(ORG_ID_MAX + 1))).toBe(false);
  });

  it('the relay alphabets keep the shared limits', () => {
    expect(isUserId('u'.repeat(USER_ID_MAX))).toBe(true);
    expect(isUserId('u'.repeat(USER_ID_MAX + 1))).toBe(false);
    expect(isDeviceId('d'.repeat(DEVICE_ID_MAX))).toBe(true);
    expect(isDeviceId('d'.repeat(DEVICE_ID_MAX + 1))).toBe(false);
    expect(isDeviceId('a/b')).toBe(false);
    // Every relay id is a header id: the alphabets are subsets of 0x21–0x7e.
    fc.assert(
      fc.property(fc.string({ maxLength: 140 }), (s) => {
        if (isUserId(s)) expect(isIdString(s, USER_ID_MAX)).toBe(true);
        if (isDeviceId(s)) expect(isIdString(s, DEVICE_ID_MAX)).toBe(true);
      }),
    );
  });
});

describe('byte order (foundations.md §9)', () => {
  it('compareBytes is lexicographic on unsigned bytes, a proper prefix first (property against a model)', () => {
    const model = (a: Uint8Array, b: Uint8Array) => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
      return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
    };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 6 }), fc.uint8Array({ maxLength: 6 }), (a, b) => {
        expect(Math.sign(compareBytes(a, b))).toBe(model(a, b));
        // A proper prefix sorts first.
        expect(Math.sign(compareBytes(a, Uint8Array.of(...a, ...b)))).toBe(b.length === 0 ? 0 : -1);
      }),
    );
    expect(compareBytes(Uint8Array.of(0x01), Uint8Array.of(0x01, 0x00))).toBeLessThan(0);
    expect(compareBytes(Uint8Array.of(0x7f), Uint8Array.of(0x80))).toBeLessThan(0);
  });

  it('header recipients: a proper prefix sorts first, uppercase before lowercase, no locale', async () => {
    const sealed = await sealEnvelope(
      fields({ senderUserId: 'alice', recipients: ['alice2', 'alice', 'Bob'] }),
      utf8Encode('hi'),
      epochKey,
    );
    const header = decodeEnvelopeHead(sealed.head).header;
    // The sender sorts the list; a verifier accepts exactly that order.
    expect(header.recipients).toEqual(['Bob', 'alice', 'alice2']);
    expect(await outcome(() => validateHeader(header))).toBe('ok');
    for (const wrong of [
      ['Bob', 'alice2', 'alice'],
      ['alice', 'alice2', 'Bob'],
      ['Bob', 'alice', 'alice'],
    ])
      expect(await outcome(() => validateHeader({ ...header, recipients: wrong }))).toBe(
        'ENVELOPE_MALFORMED ENV-1',
      );
  });

  it('request subjects and conversations: raw bytes, a proper prefix first', async () => {
    const enc = (o: Parameters<typeof request>[0]) => outcome(() => encodeRequest(request(o)));
    expect(await enc({ subjects: ['alice', 'alice2'] })).toBe('ok');
    expect(await enc({ subjects: ['alice2', 'alice'] })).toBe('REQUEST_INVALID WF-R1');
    expect(await enc({ subjects: ['B', 'a'] })).toBe('ok');
    expect(await enc({ subjects: ['a', 'B'] })).toBe('REQUEST_INVALID WF-R1');
    const c = (...b: number[]) => Uint8Array.of(...b);
    expect(await enc({ conversations: [c(1), c(1, 0), c(2)] })).toBe('ok');
    expect(await enc({ conversations: [c(1, 0), c(1)] })).toBe('REQUEST_INVALID WF-R1');
    expect(await enc({ conversations: [c(0x7f), c(0x80)] })).toBe('ok');
    expect(await enc({ conversations: [c(0x80), c(0x7f)] })).toBe('REQUEST_INVALID WF-R1');
    expect(await enc({ conversations: [c(1), c(1)] })).toBe('REQUEST_INVALID WF-R1');
  });
});
