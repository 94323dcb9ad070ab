/**
 * START-1's org id (docs/spec/start.md §1, foundations.md §8): every org id `npm start` accepts must be usable
 * everywhere the org id travels — an envelope header, a DKG session, a directory statement, a workflow decision —
 * because start writes it into all of them. Start used to allow 200 characters while headers take 64.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDkgSession,
  decodeDeviceStatement,
  decodeEnvelopeHead,
  deriveDkgEncryptionKey,
  encodeDecision,
  group,
  ORG_ID_MAX,
  scalarFromInt,
  sealEnvelope,
  signDeviceStatement,
  signingKeyFromSeed,
  utf8Encode,
} from '@overt/core';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { isStandaloneError } from './errors.js';
import { isStartOrgId, startSystem } from './system.js';

const admin = signingKeyFromSeed(new Uint8Array(32).fill(1));
const epochKey = group.baseMul(scalarFromInt(7));
const sender = signingKeyFromSeed(new Uint8Array(32).fill(2));
const trustees = await Promise.all(
  [1, 2].map(async (i) => ({
    signing: signingKeyFromSeed(new Uint8Array(32).fill(10 + i)),
    encryption: await deriveDkgEncryptionKey(new Uint8Array(32).fill(20 + i)),
  })),
);

/** Uses `org` in every structure start puts it in; throws if any refuses it. */
async function useEverywhere(org: string): Promise<void> {
  const sealed = await sealEnvelope(
    {
      orgId: org,
      epoch: 7,
      conversationId: utf8Encode('group'),
      senderUserId: 'alice',
      senderDeviceId: utf8Encode('laptop'),
      recipients: ['alice'],
      messageId: new Uint8Array(16).fill(3),
      sendTime: 1_767_225_600_000,
      contentType: 'text/plain',
    },
    utf8Encode('hello'),
    epochKey,
    sender,
  );
  expect(decodeEnvelopeHead(sealed.head).header.orgId).toBe(org);
  createDkgSession({
    org,
    epoch: 7,
    attempt: 0,
    threshold: 1,
    participants: trustees.map((t, i) => ({
      index: i + 1,
      signingKey: t.signing.publicKey,
      encryptionKey: t.encryption.publicKey,
    })),
  });
  const device = {
    kind: 'added' as const,
    orgId: org,
    userId: 'alice',
    deviceId: 'laptop',
    identityKey: admin.publicKey,
    time: 0,
  };
  expect(decodeDeviceStatement('added', signDeviceStatement(admin, device)).orgId).toBe(org);
  encodeDecision({
    version: 1,
    orgId: org,
    requestId: new Uint8Array(16),
    requestHash: new Uint8Array(32),
    trusteeIndex: 1,
    verdict: 'approve',
    decidedAt: 0,
    reason: '',
  });
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('START-1: the org id start accepts fits every structure', () => {
  it('the longest org id start accepts fits an envelope header; one character more is refused', async () => {
    const longest = 'o'.repeat(ORG_ID_MAX);
    expect(isStartOrgId(longest)).toBe(true);
    await useEverywhere(longest);
    expect(isStartOrgId(`${longest}o`)).toBe(false);
    expect(isStartOrgId('a'.repeat(200))).toBe(false);
    expect(isStartOrgId('a+b')).toBe(false);
    expect(isStartOrgId('')).toBe(false);
  });

  it('every org id start accepts is accepted by header, DKG session, directory statement and decision (property)', async () => {
    const char = fc.integer({ min: 0x1f, max: 0x80 }).map((c) => String.fromCharCode(c));
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: char, minLength: 0, maxLength: ORG_ID_MAX + 6 }), async (org) => {
        if (isStartOrgId(org)) await useEverywhere(org);
      }),
      { numRuns: 150 },
    );
  });

  it('startSystem refuses a too-long org id before it starts anything', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'overt-org-id-'));
    dirs.push(dataDir);
    await expect(startSystem({ dataDir, port: 0, org: 'o'.repeat(ORG_ID_MAX + 1) })).rejects.toSatisfy(
      (e: unknown) => isStandaloneError(e, 'START_CONFIG') && e.check === 'START-1',
    );
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('startSystem refuses a data directory whose stored org id an earlier start allowed but headers do not', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'overt-org-id-'));
    dirs.push(dataDir);
    const org = 'o'.repeat(200);
    writeFileSync(
      join(dataDir, 'overt.json'),
      `${JSON.stringify({ version: 1, org, origin: `${org}/log` }, null, 2)}\n`,
    );
    await expect(startSystem({ dataDir, port: 0 })).rejects.toSatisfy(
      (e: unknown) => isStandaloneError(e, 'START_CONFIG') && e.check === 'START-1',
    );
    expect(readdirSync(dataDir)).toEqual(['overt.json']);
  });
});
