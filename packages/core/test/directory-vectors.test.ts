// Committed vectors for the directory statements (vectors/directory.json, docs/spec/directory.md): the generator
// reproduces the file byte for byte, and every statement verifies from the file's bytes alone.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/bytes.js';
import { verifyDirectoryEntry, verifyEpochKeyStatement } from '../src/directory/statements.js';
import { DIRECTORY_VECTORS_PATH, renderDirectoryVectors } from './gen-directory-vectors.js';

const file = readFileSync(DIRECTORY_VECTORS_PATH, 'utf8');
const V = JSON.parse(file);

describe('directory statement vectors', () => {
  it('the generator reproduces vectors/directory.json byte for byte', () => {
    expect(renderDirectoryVectors()).toBe(file);
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
    const e = verifyEpochKeyStatement(admin, fromHex(V.epochKey.statement));
    expect(e.epoch).toBe(V.epochKey.epoch);
    expect(toHex(e.groupKey)).toBe(V.epochKey.groupKey);
    expect(e.verificationKeys.map(toHex)).toEqual(V.epochKey.verificationKeys);
    expect(verifyDirectoryEntry(admin, fromHex(V.epochKey.entry)).type).toBe('epoch-key');
  });
});
