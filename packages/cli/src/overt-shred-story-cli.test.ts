/**
 * Crypto-shredding end to end (docs/spec/after-release.md §6, issue #11) against npm start: the relay, its log, two
 * witnesses and three trustee daemons, each a real process. Ann sends Ben two messages in epoch E of a 'shared'
 * conversation (both in-process OvertClients, enrolled by `overt admin enrol`, keeping history records). Then:
 *
 *   1. trustee 1's operator shreds E (`overt trustee shred --epoch E --yes`; refused without --yes); one shred
 *      is not n − k + 1 = 2, so the relay keeps E's envelopes and the clients their records;
 *   2. a request over Ann's messages, approved by trustees 1 and 3, is executed: trustee 1's release rule refuses
 *      both envelopes under REL-5 and the refusals (reason 5, with the labels) are on the log; trustee 3 releases
 *      its share of each, which alone is fewer than k: `request collect` opens nothing;
 *   3. trustee 3 is stopped, and the admin logs a policy whose retention of E is over (fixed 1 ms epochs, retention
 *      0: epochEnd(E) + retention_ms is long past); trustee 2's daemon shreds E by itself on its next poll and
 *      posts its statement; with 2 shreds the relay deletes E's envelopes;
 *   4. (a) the vaults of trustees 1 and 2 say TRUSTEE_SHARE_SHREDDED; (b) only trustee 3's vault has a share of E,
 *      one share, fewer than k = 2: no set of trustees can make a valid share for an envelope of E; (d) the relay
 *      serves neither envelope any more; (e) Ben's client pruned its history records of E; and `overt log stats`
 *      shows E shredded by trustees 1 and 2.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isEpochShredded, MemoryStore, OvertClient, RelayTransport, type TrustAnchors } from '@overt/client';
import {
  decodeRefusal,
  decodeSigned,
  fromBase64,
  generateSigningKey,
  signPolicy,
  toBase64,
  toBase64Url,
  verifyPolicy,
} from '@overt/core';
import { decodeEntryBundle, ENTRY_TYPES, entryBundlePath, parseSignerKey } from '@overt/log';
import { isTrusteeError, TrusteeVault } from '@overt/trustee';
import { describe, expect, it } from 'vitest';
import { keptHistoryRecords } from '../../client/src/sdk/history.js';
import { ok, useNpmStart } from '../test/npm-start.js';
import { runCli } from '../test/run-cli.js';

const sys = useNpmStart('overt-shred-story-');
const data = () => join(sys.tmp, 'data');
const anchors = () => join(sys.tmp, 'org.json');
const base = () => [
  '--relay',
  sys.relay,
  '--requester-key',
  join(data(), 'requester', 'secret.key'),
  '--org-anchors',
  anchors(),
];
const day = 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const trusteeDir = (i: number) => join(data(), 'trustees', `trustee-${i}`);
const vaultKey = (i: number) =>
  new Uint8Array(readFileSync(join(data(), 'trustees', 'vault-keys', `trustee-${i}.key`)));

/** Polls `f` every 500 ms until it holds; fails naming `what` after `ms`. */
async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/** GET on trustee `i`'s operator API with its token. */
async function operator(i: number, path: string): Promise<Record<string, unknown>> {
  const url = readFileSync(join(trusteeDir(i), 'api.url'), 'utf8').trim();
  const token = readFileSync(join(trusteeDir(i), 'api.token'), 'utf8').trim();
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** The log's entries [0, size), from the relay's tiles. */
async function logEntries(): Promise<Uint8Array[]> {
  const cp = await (await fetch(`${sys.relay}/log/checkpoint`)).text();
  const size = Number(cp.split('\n')[1]);
  const out: Uint8Array[] = [];
  for (let b = 0; b * 256 < size; b++) {
    const width = Math.min(256, size - b * 256);
    const res = await fetch(`${sys.relay}/log/${entryBundlePath({ index: b, width })}`);
    expect(res.status).toBe(200);
    out.push(...decodeEntryBundle(new Uint8Array(await res.arrayBuffer())));
  }
  return out;
}

/** A device enrolled by `overt admin enrol`, as an in-process OvertClient that reads the log (monitorLog). */
async function device(user: string, trust: TrustAnchors, org: string) {
  const key = generateSigningKey();
  const deviceId = `${user}-phone`;
  await ok(sys.adminEnrolArgs(user, deviceId, toBase64(key.publicKey)));
  const store = new MemoryStore();
  const client = await OvertClient.open({
    url: sys.relay,
    orgId: org,
    userId: user,
    deviceId,
    signingKey: key,
    store,
    trust,
    monitorLog: true,
  });
  return { client, store, key, deviceId, user };
}

async function vaultShare(i: number, epoch: number): Promise<'shredded' | 'held' | 'none'> {
  const v = await TrusteeVault.open({ dataDir: trusteeDir(i), key: { kind: 'raw', key: vaultKey(i) } });
  try {
    return (await v.share(epoch)) === undefined ? 'none' : 'held';
  } catch (e) {
    if (isTrusteeError(e, 'TRUSTEE_SHARE_SHREDDED')) {
      expect(e.check).toBe('TRU-S1');
      return 'shredded';
    }
    throw e;
  } finally {
    v.close();
  }
}

describe('crypto-shredding end to end (after-release.md §6)', () => {
  it('manual and automatic shreds by 2 of 3 trustees: refusals under REL-5 on the log, vaults say shredded, envelopes deleted, history pruned, stats show it', async () => {
    const wk = (await (await fetch(`${sys.relay}/.well-known/overt`)).json()) as {
      org: string;
      admin_key: string;
      log: { origin: string; url: string; vkey: string; witness_vkeys: string[]; witness_quorum: number };
    };
    writeFileSync(anchors(), JSON.stringify(wk));
    const trust: TrustAnchors = {
      log: {
        origin: wk.log.origin,
        url: `${sys.relay}/log/`,
        vkey: wk.log.vkey,
        witnessVkeys: wk.log.witness_vkeys,
        witnessQuorum: wk.log.witness_quorum,
      },
      adminKey: fromBase64(wk.admin_key),
    };
    const ann = await device('ann', trust, wk.org);
    const ben = await device('ben', trust, wk.org);
    await ben.client.publishKeyPackages(1);
    const { conversationId } = await ann.client.createConversation([ben.user], { history: 'shared' });
    await ben.client.sync();
    const sent = [
      await ann.client.sendText(conversationId, 'the ledger is in the safe'),
      await ann.client.sendText(conversationId, 'burn it after reading'),
    ];
    const E = sent[0]!.epoch;
    expect(sent[1]!.epoch).toBe(E);
    await until('ben to receive both', async () => {
      await ben.client.sync();
      return (await keptHistoryRecords(ben.store, conversationId)).length === 2 ? true : undefined;
    });

    // 1. Trustee 1 shreds E by hand. Without --yes: refused in one line, nothing shredded.
    const help = await runCli(['trustee', 'shred', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('overt trustee shred --epoch 683 --yes --data ./data/trustee1');
    const unconfirmed = await runCli(['trustee', 'shred', '--epoch', String(E), '--data', trusteeDir(1)]);
    expect(unconfirmed.code).toBe(2);
    // One line that says why, then the usual pointer to --help.
    const lines = unconfirmed.stderr.trim().split('\n');
    expect(lines[0]).toContain('add --yes to confirm');
    expect(lines.slice(1)).toEqual(["Run 'overt trustee shred --help' for usage."]);
    expect((await operator(1, '/v1/status')).shares).toContain(E);
    const shredded1 = await ok(['trustee', 'shred', '--epoch', String(E), '--yes', '--data', trusteeDir(1)]);
    expect(shredded1).toMatchObject({ ok: true, epoch: E, created: true });
    const again = await ok(['trustee', 'shred', '--epoch', String(E), '--yes', '--data', trusteeDir(1)]);
    expect(again).toMatchObject({ ok: true, epoch: E, created: false, at: shredded1.at });
    const st1 = await until('trustee 1 to have its shred logged', async () => {
      const s = await operator(1, '/v1/status');
      const rec = (s.shredded as { epoch: number; logIndex: number | null }[]).find((x) => x.epoch === E);
      return rec?.logIndex !== null && rec !== undefined ? s : undefined;
    });
    expect(st1.shares).not.toContain(E);
    // One shred is not n − k + 1 = 2: Ben keeps his records.
    await ben.client.monitorLog();
    expect(await keptHistoryRecords(ben.store, conversationId)).toHaveLength(2);
    expect(await isEpochShredded(ben.store, E)).toBe(false);

    // 2. A request over Ann's messages, approved by trustees 1 and 3.
    const document = join(sys.tmp, 'order.pdf');
    writeFileSync(document, 'Court order 7/2026');
    const filed = await ok([
      'request',
      'file',
      ...base(),
      '--subject',
      'ann',
      '--from',
      new Date(Date.now() - day).toISOString(),
      '--until',
      new Date(Date.now() + day).toISOString(),
      '--legal-basis',
      'Court order 7/2026',
      '--document',
      document,
      '--justification',
      'fraud investigation',
      '--case-ref',
      'CASE-7',
    ]);
    const id = filed.requestId as string;
    for (const i of [1, 3]) {
      await until(`trustee ${i} to see the request`, async () =>
        JSON.stringify(await ok(['trustee', 'review', '--data', trusteeDir(i)])).includes(id)
          ? true
          : undefined,
      );
      await ok(['trustee', 'approve', id, '--data', trusteeDir(i), '--reason', 'order checked']);
    }
    const status = await until('both releases and the refusals', async () => {
      const s = await ok(['request', 'status', id, ...base()]);
      return (s.releases as unknown[]).length >= 2 && (s.refusals as unknown[]).length >= 2 ? s : undefined;
    });
    expect(status).toMatchObject({ status: 'executed', execution: { envelopes: 2 } });
    const releases = status.releases as { trustee: number; shares: number }[];
    expect(releases.map((r) => [r.trustee, r.shares]).sort()).toEqual([
      [1, 0],
      [3, 2],
    ]);
    const refusals = status.refusals as { trustee: number; clause: string; label: string; index: number }[];
    expect(refusals.map((r) => [r.trustee, r.clause])).toEqual([
      [1, 'REL-5'],
      [1, 'REL-5'],
    ]);
    expect(new Set(refusals.map((r) => r.label)).size).toBe(2);
    // On the log itself: two refusal entries (type 12), reason byte 5, each naming its label.
    const entries = await logEntries();
    for (const r of refusals) {
      const entry = entries[r.index]!;
      expect(entry[0]).toBe(ENTRY_TYPES.refusal);
      const x = decodeRefusal(decodeSigned(entry.subarray(1), 4096, 'REFUSAL_INVALID', 'WF-F1').body);
      // The clause is the reason byte 5 on the wire (workflow.md §9.7).
      expect([x.trusteeIndex, x.reason, toBase64(x.label!)]).toEqual([1, 'REL-5', r.label]);
    }
    // Trustee 3's shares alone are fewer than k: nothing opens.
    const collected = await runCli([
      'request',
      'collect',
      id,
      ...base(),
      '--out',
      join(sys.tmp, 'case'),
      '--json',
    ]);
    expect(JSON.parse(collected.stdout)).toMatchObject({ envelopes: 2, opened: 0 });

    // 3. Trustee 3 stops; the admin logs a policy under which E's retention is over; trustee 2 shreds by itself.
    const pid = Number(/trustee 3 .* pid (\d+)/.exec(sys.startOutput)?.[1]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGTERM');
    await until('trustee 3 to stop', async () => {
      try {
        process.kill(pid, 0);
        return undefined;
      } catch {
        return true;
      }
    });
    const policyEntry = entries.filter((e) => e[0] === ENTRY_TYPES.policy).at(-1)!;
    const inForce = verifyPolicy(policyEntry.subarray(1), trust.adminKey);
    const admin = parseSignerKey(readFileSync(sys.adminKey, 'utf8').trim()).keyPair;
    const next = signPolicy(
      {
        ...inForce.policy,
        serial: inForce.policy.serial + 1,
        issuedAt: Date.now(),
        epochLength: { kind: 'fixed', ms: 1 },
        retentionMs: 0,
      },
      admin,
    );
    const transport = new RelayTransport({ url: sys.relay, key: admin, signer: { kind: 'admin' } });
    await transport.request('POST', '/v1/admin/policies', { statement: toBase64(next) });
    const st2 = await until('trustee 2 to shred E by itself and have it logged', async () => {
      const s = await operator(2, '/v1/status');
      const rec = (s.shredded as { epoch: number; logIndex: number | null }[]).find((x) => x.epoch === E);
      return rec !== undefined && rec.logIndex !== null ? s : undefined;
    });
    expect(st2.shares).not.toContain(E);

    // 4. (a), (b): the vaults.
    expect(await vaultShare(1, E)).toBe('shredded');
    expect(await vaultShare(2, E)).toBe('shredded');
    expect(await vaultShare(3, E)).toBe('held');
    // (d) The relay deleted E's envelopes.
    const reader = new RelayTransport({
      url: sys.relay,
      key: ben.key,
      signer: { kind: 'device', deviceId: ben.deviceId },
    });
    for (const m of sent) {
      const gone = await reader
        .request('GET', `/v1/envelopes/${toBase64Url(m.messageId)}`)
        .then(() => 'served')
        .catch((e: { status?: number }) => e.status);
      expect(gone).toBe(404);
    }
    // (e) Ben's client pruned its records of E once the second shred was on the log.
    await until('ben to prune', async () => {
      await ben.client.monitorLog();
      return (await isEpochShredded(ben.store, E)) ? true : undefined;
    });
    expect(await keptHistoryRecords(ben.store, conversationId)).toEqual([]);
    // The public statistics show E shredded by trustees 1 and 2.
    const stats = await ok(['log', 'stats', `${sys.relay}/log/`, '--org-anchors', anchors()]);
    expect((stats.epochs as { epoch: number }[]).find((e) => e.epoch === E)).toEqual({
      epoch: E,
      shreddedBy: [1, 2],
      shredded: true,
    });
  }, 600_000);
});
