// Committed vectors for the directory statements (vectors/directory.json, docs/spec/directory.md): the generator
// reproduces the file byte for byte, and every statement verifies from the file's bytes alone — the device
// statements under the admin key, the policy entry under the admin key, and the epoch key under that policy:
// policy binding (DIR-4), two trustee signatures (DIR-5), verification keys that interpolate to the group key
// (DIR-6), and a transcript hash that is the hash of the committed transcript of a real DKG.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/bytes.js';
import {
  checkEpochKeyInterpolation,
  encodeEpochKeyContent,
  verifyDirectoryEntry,
  verifyEpochKeyStatement,
  verifyPolicyEntry,
} from '../src/directory/statements.js';
import { verifyTranscript } from '../src/dkg/index.js';
import { DIRECTORY_VECTORS_PATH, renderDirectoryVectors } from './gen-directory-vectors.js';

const file = readFileSync(DIRECTORY_VECTORS_PATH, 'utf8');
const V = JSON.parse(file);

describe('directory statement vectors', () => {
  it('the generator reproduces vectors/directory.json byte for byte', async () => {
    expect(await renderDirectoryVectors()).toBe(file);
  });

  it('every statement verifies from the committed bytes alone', () => {
    const admin = fromHex(V.admin.publicKey);
    for (const name of ['deviceAdded', 'deviceRemoved']) {
      const v = V[name];
      const s = verifyDirectoryEntry(admin, fromHex(v.entry));
      expect(s.type).toBe('device');
      if (s.type !== 'device') continue;
      expect(s.statement).toMatchObject({
        kind: v.kind,
        orgId: v.orgId,
        userId: v.userId,
        deviceId: v.deviceId,
        time: v.time,
      });
      expect(toHex(s.statement.identityKey)).toBe(v.identityKey);
      expect(toHex(fromHex(v.entry).subarray(1))).toBe(v.statement);
    }
    const policy = verifyPolicyEntry(admin, fromHex(V.policy.entry));
    expect(toHex(policy.hash)).toBe(V.policy.hash);
    expect(toHex(policy.signed)).toBe(V.policy.signed);
    expect(policy.policy.trustees.map((t) => toHex(t.signingKey))).toEqual(V.policy.trusteeSigningKeys);
    const e = verifyEpochKeyStatement(policy, fromHex(V.epochKey.statement));
    expect(e.epoch).toBe(V.epochKey.epoch);
    expect(toHex(e.policyHash)).toBe(V.epochKey.policyHash);
    expect(toHex(e.groupKey)).toBe(V.epochKey.groupKey);
    expect(e.verificationKeys.map(toHex)).toEqual(V.epochKey.verificationKeys);
    expect(toHex(e.sessionId)).toBe(V.epochKey.sessionId);
    expect(toHex(e.content)).toBe(V.epochKey.content);
    expect(toHex(encodeEpochKeyContent(e))).toBe(V.epochKey.content);
    expect(e.signatures.map((s) => s.index)).toEqual(V.epochKey.signers);
    checkEpochKeyInterpolation(e);
    expect(verifyDirectoryEntry(admin, fromHex(V.epochKey.entry), policy).type).toBe('epoch-key');
    // The transcript on file is a real DKG's: it verifies and yields the statement's keys, hash and session id.
    const t = verifyTranscript(fromHex(V.epochKey.transcript));
    expect(toHex(t.transcriptHash)).toBe(V.epochKey.transcriptHash);
    expect(toHex(t.session.id)).toBe(V.epochKey.sessionId);
    expect(toHex(t.publicKey.groupKey)).toBe(V.epochKey.groupKey);
    expect(t.publicKey.verificationKeys.map(toHex)).toEqual(V.epochKey.verificationKeys);
    // Under the admin key alone, nothing: no policy in force means no epoch key (DIR-4).
    expect(() => verifyDirectoryEntry(admin, fromHex(V.epochKey.entry))).toThrow(
      expect.objectContaining({ check: 'DIR-4' }),
    );
  });
});
