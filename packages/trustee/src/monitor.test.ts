// The trustee's log follower (access.md §6, §7.5) over an in-memory tiled log with two witnesses: an epoch's
// statement is its first key, replaced by a resharing (same group key, newer policy); a statement with another
// group key under a newer policy is never taken and raises `epoch-key-conflict` (CER-10); the view survives a
// restart from the vault.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeEpochKeyStatement,
  type Element,
  epochKeyEntry,
  generateSigningKey,
  group,
  type Policy,
  policyEntry,
  randomBytes,
  randomNonZeroScalar,
  scalarFromInt,
  signEpochKeyStatement,
  signPolicy,
  toBase64,
  type VerifiedPolicy,
  verifyPolicy,
} from '@overt/core';
import {
  formatVerifierKey,
  generateSignerKey,
  MemoryTiledLog,
  SIGNATURE_TYPE_COSIGNATURE,
  verifierKeyOf,
} from '@overt/log';
import { afterEach, describe, expect, it } from 'vitest';
import { LogFollower } from './monitor.js';
import { TrusteeVault } from './vault.js';

const ORG = 'org.test';
const ORIGIN = 'org.test/log';
const PREFIX = 'https://relay.test/log/';
const admin = generateSigningKey();
const logKey = generateSignerKey(ORIGIN);
const witnesses = [1, 2].map((i) => generateSignerKey(`w${i}.test`, SIGNATURE_TYPE_COSIGNATURE));
const trustees = [1, 2, 3].map(() => generateSigningKey());
const anchors = {
  origin: ORIGIN,
  logVkey: formatVerifierKey(verifierKeyOf(logKey)),
  witnessVkeys: witnesses.map((w) => formatVerifierKey(verifierKeyOf(w))),
  witnessQuorum: 2,
  adminKey: toBase64(admin.publicKey),
};

function policy(serial: number): VerifiedPolicy {
  const p: Policy = {
    version: 1,
    orgId: ORG,
    serial,
    issuedAt: 1,
    trustees: trustees.map((k, i) => ({
      index: i + 1,
      name: `T${i + 1}`,
      signingKey: k.publicKey,
      encryptionKey: new Uint8Array(32).fill(i + 1),
    })),
    threshold: 2,
    witnesses: witnesses.map((w) => ({ name: w.name, signingKey: verifierKeyOf(w).publicKey })),
    witnessQuorum: 2,
    requesters: [
      {
        id: 'r',
        name: 'R',
        signingKey: new Uint8Array(32).fill(8),
        encryptionKey: new Uint8Array(32).fill(7),
      },
    ],
    limits: { maxSubjects: 1, maxWindowMs: 1, maxEnvelopes: 1, maxSealMs: 1, maxExtensions: 0 },
    epochLength: { kind: 'calendar-month' },
    retentionMs: 1,
  };
  return verifyPolicy(signPolicy(p, admin), admin.publicKey);
}

function epochKey(p: VerifiedPolicy, epoch: number, groupKey: Element): Uint8Array {
  const slope = group.baseMul(randomNonZeroScalar());
  return epochKeyEntry(
    signEpochKeyStatement(
      {
        orgId: ORG,
        epoch,
        policyHash: p.hash,
        threshold: 2,
        groupKey,
        verificationKeys: [1, 2, 3].map((i) => group.add(groupKey, group.mul(scalarFromInt(i), slope))),
        transcriptHash: randomBytes(32),
        sessionId: randomBytes(32),
        time: 2,
      },
      trustees.slice(0, 2).map((key, i) => ({ index: i + 1, key })),
    ),
  );
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

describe('log follower: epoch-key statements (access.md §7.5)', () => {
  it('takes a resharing (same Y, newer policy) as the statement in force, never another Y (epoch-key-conflict, CER-10); the view survives a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'overt-follower-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const vault = await TrusteeVault.open({
      dataDir: join(dir, 't'),
      key: { kind: 'raw', key: randomBytes(32) },
      index: 9,
    });
    cleanups.push(() => vault.close());
    const log = new MemoryTiledLog(ORIGIN, logKey, witnesses);
    const follow = () =>
      new LogFollower({ vault, logUrl: PREFIX, anchors, fetch: log.fetcher(PREFIX) as never });
    const [p1, p2, p3] = [policy(1), policy(2), policy(3)];
    const y = group.baseMul(randomNonZeroScalar());
    const reshare = epochKey(p2, 5, y);
    log.append(
      policyEntry(p1.signed), // 0
      epochKey(p1, 5, y), // 1
      policyEntry(p2.signed), // 2
      epochKey(p2, 5, group.baseMul(randomNonZeroScalar())), // 3: another Y under a newer policy: refused
      reshare, // 4: the resharing
      epochKey(p2, 5, y), // 5: a second one under the same policy: not taken
    );
    const f = follow();
    await f.update();
    const inForce = f.epochKey(5)!;
    expect(inForce.policy.hash).toEqual(p2.hash);
    expect(inForce.statement.groupKey).toEqual(y);
    // The resharing at 4, not the second statement under the same policy at 5.
    expect(inForce.statement.transcriptHash).toEqual(
      decodeEpochKeyStatement(reshare.subarray(1)).transcriptHash,
    );
    expect(vault.alerts().map((a) => a.kind)).toEqual(['epoch-key-conflict']);
    expect(vault.alerts()[0]!.detail).toContain('entry 3');
    const transcript = inForce.statement.transcriptHash;
    // After a restart the view is the vault's: the resharing stays in force.
    expect(follow().epochKey(5)!.statement.transcriptHash).toEqual(transcript);
    // A third policy's resharing replaces it again.
    const again = epochKey(p3, 5, y);
    log.append(policyEntry(p3.signed), again);
    await f.update();
    expect(f.epochKey(5)!.policy.hash).toEqual(p3.hash);
  });
});
