/**
 * Notices end to end (docs/spec/after-release.md §4, NOT-1) against `npm start` — relay, log, two witnesses and the
 * three trustee daemons as real processes: carol writes to bob; then, inside the request's window, alice and bob
 * talk. A request over that window for subjects alice and carol is filed with its opening sealed to the relay's
 * unseal key and a short seal; trustees 1 and 2 approve (`overt trustee approve`), the relay executes, the daemons
 * release, and when the seal runs out the relay unseals it. Then `overt notices`: alice is told who asked, why, who
 * approved, and exactly her three messages (two sent, one received) by id; carol, whose only message was before the
 * window, is told none of hers was opened; bob, no subject, gets nothing. Each notice is NEW once.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccessRelayClient, buildRequest, trustAnchorsFromWellKnown } from '@overt/client';
import {
  equalBytes,
  fromBase64,
  isOvertError,
  POLICY_ENTRY_TYPE,
  sealConfidential,
  sha256,
  toBase64Url,
  utf8Encode,
  type VerifiedPolicy,
  verifyPolicyEntry,
} from '@overt/core';
import { MemoryMonitorStore, Monitor, makeWitnessPolicy, parseVerifierKey } from '@overt/log';
import { requesterKeysFromSecret } from '@overt/up';
import { describe, expect, it } from 'vitest';
import { ok, useNpmStart } from '../test/npm-start.js';
import { runCli } from '../test/run-cli.js';

const sys = useNpmStart('overt-notices-');
const alice = join(sys.tmp, 'alice');
const bob = join(sys.tmp, 'bob');
const carol = join(sys.tmp, 'carol');
const data = () => join(sys.tmp, 'data');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The policy in force on the relay's log, read through a verifying monitor. */
async function policyInForce(doc: unknown): Promise<VerifiedPolicy> {
  const { anchors } = trustAnchorsFromWellKnown(doc);
  const entries: Uint8Array[] = [];
  const r = await new Monitor({
    policy: {
      origin: anchors.log.origin,
      logKeys: [parseVerifierKey(anchors.log.vkey)],
      witnesses: makeWitnessPolicy(anchors.log.witnessVkeys.map(parseVerifierKey), anchors.log.witnessQuorum),
    },
    url: anchors.log.url,
    fetch: (u) => fetch(u),
    store: new MemoryMonitorStore(),
    onEntry: (i, e) => {
      entries[i] = e;
    },
  }).update();
  if (r.kind !== 'ok') throw new Error(`log: ${r.kind}`);
  let best: VerifiedPolicy | undefined;
  for (const e of entries) {
    if (e[0] !== POLICY_ENTRY_TYPE) continue;
    try {
      const p = verifyPolicyEntry(anchors.adminKey, e);
      if (best === undefined || p.policy.serial > best.policy.serial) best = p;
    } catch (err) {
      if (!isOvertError(err)) throw err;
    }
  }
  if (best === undefined) throw new Error('no policy on the log');
  return best;
}

interface ShownNotice {
  requestId: string;
  new: boolean;
  requester: { id: string };
  justification: string;
  approvedBy: { index: number }[];
  publisher: unknown;
  opened: { messageId: string; sentAt: number }[];
  openedCount: number;
  inScopeCount: number;
}

async function noticesOf(profile: string): Promise<ShownNotice[]> {
  return (await ok(['notices', '--profile', profile])).notices as ShownNotice[];
}

describe('notices to the people whose messages were read (NOT-1)', () => {
  it('alice is told exactly which of her messages were opened, carol that none of hers was, bob nothing', async () => {
    const docText = await (await fetch(`${sys.relay}/.well-known/overt`)).text();
    const anchorsFile = join(sys.tmp, 'org.json');
    writeFileSync(anchorsFile, docText);
    const doc = JSON.parse(docText) as { unsealKey: string };
    await Promise.all([sys.enrol('alice', alice), sys.enrol('bob', bob), sys.enrol('carol', carol)]);
    await ok(['chat', 'list', '--profile', bob]);

    // Before the window: carol to bob.
    const cb = (await ok(['chat', 'new', '--profile', carol, '--with', 'bob'])).conversation as string;
    await ok(['send', '--profile', carol, '--to', cb, 'lunch on friday?']);
    await sleep(20);
    const from = Date.now();
    await sleep(20);
    // Inside it: alice and bob.
    const ab = (await ok(['chat', 'new', '--profile', alice, '--with', 'bob'])).conversation as string;
    const sent = [
      (await ok(['send', '--profile', alice, '--to', ab, 'the ledger is in the safe'])).messageId as string,
      (await ok(['send', '--profile', alice, '--to', ab, 'burn it after reading'])).messageId as string,
    ];
    await ok(['read', '--profile', bob]);
    sent.push((await ok(['send', '--profile', bob, '--to', ab, 'done'])).messageId as string);

    // The request, filed with the library so that its opening is sealed to the relay's unseal key (index 0).
    const policy = await policyInForce(JSON.parse(docText));
    const keys = await requesterKeysFromSecret(readFileSync(join(data(), 'requester', 'secret.key')));
    const requester = policy.policy.requesters.find((r) =>
      equalBytes(r.signingKey, keys.signingKey.publicKey),
    )!;
    const now = Date.now();
    const built = await buildRequest({
      policy,
      requesterId: requester.id,
      signingKey: keys.signingKey,
      legalBasis: 'Court order 42/2026',
      documentHash: sha256(utf8Encode('Court order 42/2026')),
      subjects: ['alice', 'carol'],
      window: { from, until: now + 3_600_000 },
      maxEnvelopes: policy.policy.limits.maxEnvelopes,
      sealUntil: now + 60_000,
      createdAt: now,
      confidential: { justification: 'fraud investigation', caseReference: 'CASE-42' },
    });
    const relaySealed = await sealConfidential(fromBase64(doc.unsealKey), 0, built.verified, built.opening);
    const client = new AccessRelayClient({
      url: sys.relay,
      signer: { kind: 'requester', id: requester.id, key: keys.signingKey },
    });
    const filed = await client.fileRequest(built.signed, built.sealed, relaySealed);
    const id = toBase64Url(filed.requestId);

    for (const i of [1, 2]) {
      const dir = join(data(), 'trustees', `trustee-${i}`);
      let seen = false;
      for (let t = 0; t < 60 && !seen; t++) {
        seen = JSON.stringify(await ok(['trustee', 'review', '--data', dir])).includes(id);
        if (!seen) await sleep(500);
      }
      expect(seen).toBe(true);
      await ok(['trustee', 'approve', id, '--data', dir, '--reason', 'order checked']);
    }
    const base = ['--relay', sys.relay, '--requester-key', join(data(), 'requester', 'secret.key')];
    let status: Record<string, unknown> = {};
    for (let t = 0; t < 120; t++) {
      status = await ok(['request', 'status', id, ...base, '--org-anchors', anchorsFile]);
      if (status.status === 'executed' && (status.releases as unknown[]).length >= 2) break;
      await sleep(1000);
    }
    expect(status).toMatchObject({ status: 'executed', execution: { envelopes: 3 } });

    // The seal runs out; the relay unseals; alice's client builds her notice.
    let mine: ShownNotice[] = [];
    for (let t = 0; t < 150; t++) {
      mine = await noticesOf(alice);
      if (mine.length === 1 && mine[0]!.openedCount === 3) break;
      await sleep(1000);
    }
    expect(mine).toHaveLength(1);
    const n = mine[0]!;
    expect(n).toMatchObject({
      requestId: id,
      requester: { id: requester.id },
      justification: 'fraud investigation',
      caseReference: 'CASE-42',
      legalBasis: 'Court order 42/2026',
      approvedBy: [{ index: 1 }, { index: 2 }],
      deniedBy: [],
      publisher: 'relay',
      executed: true,
      openedCount: 3,
      inScopeCount: 3,
    });
    expect(n.opened.map((m) => m.messageId).sort()).toEqual([...sent].sort());
    expect(n.opened.every((m) => m.sentAt >= from)).toBe(true);

    // Shown once as new: then "no new notices"; --all shows it again, not as new.
    const again = await runCli(['notices', '--profile', alice]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('no new notices');
    const all = await runCli(['notices', '--profile', alice, '--all']);
    expect(all.stdout).toContain(`NOTICE access request ${id}`);
    expect(all.stdout).not.toContain('NEW NOTICE');
    expect(all.stdout).toContain('3 of your messages opened');
    for (const m of sent) expect(all.stdout).toContain(m);

    // carol: a subject, her only message before the window: none opened, and she is told.
    const text = await runCli(['notices', '--profile', carol]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`NEW NOTICE access request ${id}`);
    expect(text.stdout).toContain('none of your messages was opened');
    const [c] = await noticesOf(carol);
    expect(c).toMatchObject({ requestId: id, openedCount: 0, opened: [], new: false });
    // bob is in alice's messages, but no subject: no notice.
    expect(await noticesOf(bob)).toEqual([]);
  }, 600_000);
});
