/**
 * Standing orders end to end (docs/spec/after-release.md §8, issue #11) against npm start: the relay, its log, two
 * witnesses and three trustee daemons, each a real process; the `overt` CLI for the admin, the requester and the
 * trustees; in-process OvertClients for the users.
 *
 *   1. the admin puts ann in the recorded group (`overt order recorded --add ann`: policy serial 2, body version 2);
 *   2. the requester files a standing order over ann ending in ~40 s; trustees 1 and 2 approve it; ann and ben talk,
 *      cat and dan talk; the relay executes batches as messages arrive, the trustees release them, and
 *      `overt order archive` holds ann's and ben's messages — and never cat's or dan's (not recorded);
 *   3. a renewal (`--renews`) starting at the first order's end, approved again by k trustees, carries the
 *      recording on: a message sent after the first order ended arrives through the renewal;
 *   4. the admin removes ann from the group; her later message is in no batch and in no archive, while the
 *      order status shows every batch with its counts, each trustee's release, and nothing of cat and dan.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryStore, OvertClient, type TrustAnchors } from '@overt/client';
import { fromBase64, generateSigningKey, toBase64 } from '@overt/core';
import { describe, expect, it } from 'vitest';
import { ok, useNpmStart } from '../test/npm-start.js';
import { runCli } from '../test/run-cli.js';

const sys = useNpmStart('overt-order-');
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
const admin = () => ['--relay', sys.relay, '--admin-key', sys.adminKey, '--org-anchors', anchors()];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const trusteeDir = (i: number) => join(data(), 'trustees', `trustee-${i}`);

/** Polls `f` every 500 ms until it holds; fails naming `what` after `ms`. */
async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

async function device(user: string, trust: TrustAnchors, org: string) {
  const key = generateSigningKey();
  const deviceId = `${user}-phone`;
  await ok(sys.adminEnrolArgs(user, deviceId, toBase64(key.publicKey)));
  const client = await OvertClient.open({
    url: sys.relay,
    orgId: org,
    userId: user,
    deviceId,
    signingKey: key,
    store: new MemoryStore(),
    trust,
  });
  await client.publishKeyPackages(2);
  return { client, user };
}

async function approve(id: string): Promise<void> {
  for (const i of [1, 2]) {
    await until(`trustee ${i} to see ${id}`, async () =>
      JSON.stringify(await ok(['trustee', 'review', '--data', trusteeDir(i)])).includes(id)
        ? true
        : undefined,
    );
    await ok(['trustee', 'approve', id, '--data', trusteeDir(i), '--reason', 'record-keeping duty checked']);
  }
}

type Shown = { batch: number; sender: string; payload: string };

/** One archive pass of `id` into `dir`; resolves with the archived messages' texts. */
async function archived(id: string, dir: string): Promise<{ texts: string[]; shown: Shown[] }> {
  const a = await ok(['order', 'archive', id, ...base(), '--out', dir, '--show']);
  const shown = a.shown as Shown[];
  return { texts: shown.map((m) => new TextDecoder().decode(fromBase64(m.payload))), shown };
}

describe('standing orders end to end (after-release.md §8)', () => {
  it('order approved by k trustees, recorded messages archived, renewal, a user leaving the group stops it for her', async () => {
    const wk = (await (await fetch(`${sys.relay}/.well-known/overt`)).json()) as {
      org: string;
      admin_key: string;
      log: { origin: string; vkey: string; witness_vkeys: string[]; witness_quorum: number };
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

    // The commands document themselves.
    for (const c of ['file', 'status', 'archive', 'recorded']) {
      const help = await runCli(['order', c, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`overt order ${c}`);
    }

    // 1. ann is recorded: a new policy serial (body version 2) on the log.
    const rec = await ok(['order', 'recorded', ...admin(), '--add', 'ann']);
    expect(rec).toMatchObject({ ok: true, serial: 2, recorded: ['ann'] });

    const ann = await device('ann', trust, wk.org);
    const ben = await device('ben', trust, wk.org);
    const cat = await device('cat', trust, wk.org);
    const dan = await device('dan', trust, wk.org);
    const { conversationId: annBen } = await ann.client.createConversation([ben.user]);
    const { conversationId: catDan } = await cat.client.createConversation([dan.user]);
    await ben.client.sync();
    await dan.client.sync();

    // 2. An order over ann, ending in ~40 s, approved by trustees 1 and 2.
    const end1 = Date.now() + 40_000;
    const order = (extra: string[]) => [
      'order',
      'file',
      ...base(),
      '--subject',
      'ann',
      '--legal-basis',
      'MiFID II art. 16(7)',
      '--document-hash',
      '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      '--justification',
      'record-keeping of trading staff',
      ...extra,
    ];
    // Not a recorded user: refused by core's WF-O2 before anything is filed.
    const refused = await runCli([
      ...order([]).map((a) => (a === 'ann' ? 'cat' : a)),
      '--until',
      new Date(end1).toISOString(),
      '--json',
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toContain('WF-O2');
    const filed = await ok(
      order(['--from', new Date(Date.now() - 60_000).toISOString(), '--until', new Date(end1).toISOString()]),
    );
    const id1 = filed.orderId as string;
    expect(filed).toMatchObject({ ok: true, subjects: ['ann'] });
    const pending = await ok(['order', 'status', id1, ...base()]);
    expect(pending).toMatchObject({ state: 'pending', approvals: 0, threshold: 2, totals: { batches: 0 } });
    await approve(id1);
    expect(await ok(['order', 'status', id1, ...base()])).toMatchObject({ state: 'in-force', approvals: 2 });

    await ann.client.sendText(annBen, 'buy 100 at 42');
    await ben.client.sync();
    await ben.client.sendText(annBen, 'done, filled at 41.9');
    await cat.client.sendText(catDan, 'lunch at noon?');
    const dir1 = join(sys.tmp, 'archive-1');
    await until('both messages of ann and ben in the archive', async () => {
      const a = await archived(id1, dir1);
      return a.texts.includes('buy 100 at 42') && a.texts.includes('done, filled at 41.9') ? a : undefined;
    });
    // Encrypted at rest: the archive file holds no plaintext.
    const raw = readFileSync(join(dir1, 'messages.bin'));
    expect(raw.includes(Buffer.from('buy 100 at 42'))).toBe(false);
    expect(existsSync(join(dir1, 'batch-0', 'case.json'))).toBe(true);
    // The batch's case keeps each approving trustee's sealed bundle (evidence material).
    for (const t of [1, 2])
      expect(readFileSync(join(dir1, 'batch-0', 'bundles', `${t}-0.sealed`)).length).toBeGreaterThan(48);

    // 3. The renewal starts at the first order's end; k approvals again.
    const renewed = await ok(order(['--renews', id1, '--until', new Date(end1 + 3_600_000).toISOString()]));
    const id2 = renewed.orderId as string;
    expect(renewed).toMatchObject({ renews: id1, from: new Date(end1).toISOString() });
    await approve(id2);
    await until('the first order to end', async () => (Date.now() > end1 + 500 ? true : undefined), 60_000);
    expect(await ok(['order', 'status', id1, ...base()])).toMatchObject({ state: 'ended' });
    await ann.client.sendText(annBen, 'sell 50 at 43');
    const dir2 = join(sys.tmp, 'archive-2');
    await until('the renewal to carry the recording on', async () =>
      (await archived(id2, dir2)).texts.includes('sell 50 at 43') ? true : undefined,
    );
    // The first order's window is over: the message is not in its archive.
    expect((await archived(id1, dir1)).texts).not.toContain('sell 50 at 43');

    // 4. ann leaves the group: her later messages are released by nobody.
    expect(await ok(['order', 'recorded', ...admin(), '--remove', 'ann'])).toMatchObject({
      serial: 3,
      recorded: [],
    });
    const before = await ok(['order', 'status', id2, ...base()]);
    await ann.client.sendText(annBen, 'after I left');
    await cat.client.sendText(catDan, 'still no recording here');
    // Give the relay several batch intervals and the trustees their polls.
    await sleep(6_000);
    const after = await ok(['order', 'status', id2, ...base()]);
    expect((after.totals as { envelopes: number }).envelopes).toBe(
      (before.totals as { envelopes: number }).envelopes,
    );
    const final2 = await archived(id2, dir2);
    expect(final2.texts).not.toContain('after I left');
    // Never anything of cat and dan, in either order.
    const final1 = await archived(id1, dir1);
    for (const a of [final1, final2]) {
      expect(a.shown.every((m) => m.sender.startsWith('ann/') || m.sender.startsWith('ben/'))).toBe(true);
      expect(a.texts).not.toContain('lunch at noon?');
    }
    // Every batch on the log with its count and the releases of both approving trustees.
    const s1 = await ok(['order', 'status', id1, ...base()]);
    const batches = s1.batches as { envelopes: number; releases: { trustee: number; shares: number }[] }[];
    expect(batches.length).toBeGreaterThan(0);
    for (const b of batches) expect(b.releases.map((r) => r.trustee).sort()).toEqual([1, 2]);
    expect((s1.totals as { envelopes: number }).envelopes).toBe(2);
  }, 180_000);
});
