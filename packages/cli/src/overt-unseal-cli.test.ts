/**
 * After release end to end (docs/spec/after-release.md §1–§3) against npm start with its three trustee daemons
 * (separate processes, unseal grace 20 s through OVERT_UNSEAL_GRACE_MS) and the relay's unseal task:
 * (a) a request filed with the relay's part is unsealed by the relay at its seal date (ACC-U4): the public read
 *     shows the unseal, published by the relay (publisher 0), the opening the justification filed;
 * (b) one filed with --no-relay-unseal is unsealed by a trustee after the grace (TRU-U1), once;
 * (c) `overt request extend` + `overt trustee extend --approve` by trustees 1 and 2 logs an extension before the
 *     deadline (ACC-E3) and the relay does not unseal at the old date; a second extension chains; a third is over
 *     max_extensions (ACC-E1); an extension signed past the deadline is refused (WF-X6 at the trustee, ACC-E4);
 * (d) a request nobody can open (its trustee parts are garbage, no relay part) is flagged `seal-overdue` by every
 *     trustee (OVD-1), once.
 * Bounded: every wait has a deadline; npm start (and every process it started) is stopped after the file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AccessRelayClient } from '@overt/client';
import {
  commitConfidential,
  decodeExtension,
  decodeSigned,
  decodeUnseal,
  fromBase64,
  fromBase64Url,
  type Request,
  randomBytes,
  signRequest,
  toBase64Url,
  verifyPolicyEntry,
  verifyRequest,
} from '@overt/core';
import { decodeEntryBundle, entryBundlePath } from '@overt/log';
import { requesterKeysFromSecret } from '@overt/up';
import { describe, expect, it } from 'vitest';
import { ok, useNpmStart } from '../test/npm-start.js';
import { runCli } from '../test/run-cli.js';

/** Longer than the relay's unseal period (5 s) plus a trustee's view catching up, so (a) is the relay's. */
const GRACE_MS = 20_000;
const sys = useNpmStart('overt-unseal-', { OVERT_UNSEAL_GRACE_MS: String(GRACE_MS) });
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
const trusteeDir = (i: number) => join(data(), 'trustees', `trustee-${i}`);
const day = 86_400_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `f` until it returns a value (not undefined) or `ms` pass: then fails naming `what`. */
async function eventually<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

async function operator(dir: string, path: string): Promise<Record<string, unknown>> {
  const url = readFileSync(join(dir, 'api.url'), 'utf8').trim();
  const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** The relay's public read of a request (after-release.md §1), or undefined while it is not unsealed (404). */
async function publicRead(id: string): Promise<Record<string, unknown> | undefined> {
  const res = await fetch(`${sys.relay}/v1/access/requests/${id}/public`);
  if (res.status === 404) {
    expect(((await res.json()) as { code: string }).code).toBe('ACCESS_NOT_UNSEALED');
    return undefined;
  }
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** The entry at `index`, read from the relay's log tiles. */
async function logEntry(index: number): Promise<Uint8Array> {
  const cp = await (await fetch(`${sys.relay}/log/checkpoint`)).text();
  const size = Number(cp.split('\n')[1]);
  if (index >= size) throw new Error(`entry ${index} is not in the checkpoint yet`);
  const bundle = Math.floor(index / 256);
  const full = (bundle + 1) * 256 <= size;
  const path = entryBundlePath({ index: bundle, width: full ? 256 : size - bundle * 256 });
  return decodeEntryBundle(new Uint8Array(await (await fetch(`${sys.relay}/log/${path}`)).arrayBuffer()))[
    index % 256
  ]!;
}

function unsealOf(pub: Record<string, unknown>) {
  const u = pub.unseal as { unseal: string; index: number };
  return {
    ...decodeUnseal(decodeSigned(fromBase64(u.unseal), 0xffff, 'UNSEAL_INVALID', 'WF-U1').body),
    index: u.index,
  };
}

/** `overt request file` for a window around now, sealed until `sealUntil`. */
async function file(sealUntil: number, justification: string, extra: string[] = []): Promise<string> {
  const filed = await ok([
    'request',
    'file',
    ...base(),
    '--subject',
    'alice',
    '--from',
    new Date(Date.now() - day).toISOString(),
    '--until',
    new Date(Date.now() + day).toISOString(),
    '--seal-until',
    new Date(sealUntil).toISOString(),
    '--legal-basis',
    'Court order 7/2026',
    '--document-hash',
    'ab'.repeat(32),
    '--justification',
    justification,
    ...extra,
  ]);
  return filed.requestId as string;
}

/** `overt trustee extend`, retried while the daemon's view does not show the request yet (ACC-T3). */
async function trusteeExtend(i: number, id: string, verdict: '--approve' | '--deny') {
  return eventually(`trustee ${i} to sign the extension of ${id}`, async () => {
    const r = await runCli(['trustee', 'extend', id, verdict, '--data', trusteeDir(i), '--json']);
    if (r.code === 0) return JSON.parse(r.stdout) as Record<string, unknown>;
    // The daemon's view may not show the request, or the previous extension, yet.
    if (/ACC-T3|WF-X2|no open extension/.test(r.stdout + r.stderr)) return undefined;
    throw new Error(`trustee extend exited ${r.code}: ${r.stdout}${r.stderr}`);
  });
}

describe('after release end to end: unseal, extensions, overdue seals', () => {
  it('unseal by the relay and by a trustee; extensions within the limits and before the deadline; overdue seals flagged by every trustee', async () => {
    const wellKnown = (await (await fetch(`${sys.relay}/.well-known/overt`)).json()) as Record<
      string,
      unknown
    >;
    expect(typeof wellKnown.unsealKey).toBe('string');
    writeFileSync(anchors(), JSON.stringify(wellKnown));

    // (c) c first: two extensions within the limits, a third over them.
    const t0 = Date.now();
    const c = await file(t0 + 150_000, 'extended twice');
    // (c) Extension 1 of c, proposed by the requester and signed by trustees 1 and 2: logged before the date.
    const p1 = await ok([
      'request',
      'extend',
      c,
      ...base(),
      '--until',
      new Date(t0 + 3_600_000).toISOString(),
      '--reason',
      'the inquiry continues',
    ]);
    expect(p1).toMatchObject({ number: 1, threshold: 2 });
    const s1 = await trusteeExtend(1, c, '--approve');
    expect(s1).toMatchObject({ number: 1, verdict: 'approve', signers: 1 });
    const r1 = await operator(trusteeDir(3), '/v1/extensions');
    expect(
      (r1.extensions as { requestId: string; valid: boolean }[]).find((x) => x.requestId === c),
    ).toMatchObject({ valid: true, signers: [1] });
    const s2 = await trusteeExtend(2, c, '--approve');
    expect(s2).toMatchObject({ number: 1, signers: 2 });
    const x1 = decodeExtension(
      (
        await eventually('extension 1 on the log', async () => {
          try {
            return await logEntry(s2.index as number);
          } catch {
            return undefined;
          }
        })
      ).subarray(1),
    );
    expect(x1.statement).toMatchObject({ number: 1, newSealUntil: Date.parse(p1.newSealUntil as string) });
    expect(x1.signatures.map((g) => g.trusteeIndex)).toEqual([1, 2]);
    // Extension 2 chains on it (trustees 2 and 3); a third is over the policy's max_extensions (2).
    const p2 = await ok([
      'request',
      'extend',
      c,
      ...base(),
      '--until',
      new Date(t0 + 7_200_000).toISOString(),
      '--reason',
      'trial date set',
    ]);
    expect(p2).toMatchObject({ number: 2, oldSealUntil: p1.newSealUntil });
    await trusteeExtend(3, c, '--approve');
    expect(await trusteeExtend(2, c, '--approve')).toMatchObject({ number: 2, signers: 2 });
    const third = await runCli([
      'request',
      'extend',
      c,
      ...base(),
      '--until',
      new Date(t0 + 9_000_000).toISOString(),
      '--reason',
      'again',
      '--json',
    ]);
    expect(third.code).not.toBe(0);
    expect(third.stdout + third.stderr).toContain('ACCESS_EXTENSION_LIMIT');

    // Then d, a, b, e, sealed 90 s from now (every one must be filed before that); the dates run meanwhile.
    // d: an extension proposed and signed by one trustee before its date.
    const t1 = Date.now();
    const sealShort = t1 + 90_000;
    const d = await file(sealShort, 'extended too late');
    await ok([
      'request',
      'extend',
      d,
      ...base(),
      '--until',
      new Date(t1 + 3_600_000).toISOString(),
      '--reason',
      'late',
    ]);
    expect(await trusteeExtend(1, d, '--approve')).toMatchObject({ signers: 1 });
    const a = await file(sealShort, 'relay unseals this');
    const filedB = await ok([
      'request',
      'file',
      ...base(),
      '--subject',
      'alice',
      '--from',
      new Date(t1 - day).toISOString(),
      '--until',
      new Date(t1 + day).toISOString(),
      '--seal-until',
      new Date(sealShort).toISOString(),
      '--legal-basis',
      'Court order 8/2026',
      '--document-hash',
      'cd'.repeat(32),
      '--justification',
      'a trustee unseals this',
      '--no-relay-unseal',
    ]);
    expect(filedB.relayUnseal).toBe(false);
    const b = filedB.requestId as string;

    // (d) A request whose parts nobody can open: filed with garbage trustee parts and no relay part.
    const secret = new Uint8Array(readFileSync(join(data(), 'requester', 'secret.key')));
    const keys = await requesterKeysFromSecret(secret);
    const policy = verifyPolicyEntry(fromBase64(wellKnown.admin_key as string), await logEntry(0));
    const requesterId = policy.policy.requesters[0]!.id;
    const { commitment } = commitConfidential({ justification: 'nobody can read this', caseReference: '' });
    const q: Request = {
      version: 1,
      orgId: policy.policy.orgId,
      requestId: randomBytes(16),
      policyHash: policy.hash,
      requesterId,
      createdAt: Date.now(),
      legalBasis: 'Court order 9/2026',
      documentHash: randomBytes(32),
      subjects: ['alice'],
      window: { from: t1 - day, until: t1 + day },
      conversations: [],
      maxEnvelopes: 10,
      sealUntil: sealShort,
      confidentialCommitment: commitment,
    };
    const signed = signRequest(q, keys.signingKey);
    verifyRequest(signed, policy);
    const requester = new AccessRelayClient({
      url: sys.relay,
      signer: { kind: 'requester', id: requesterId, key: keys.signingKey },
    });
    await requester.fileRequest(
      signed,
      policy.policy.trustees.map((t) => ({ trustee: t.index, sealed: randomBytes(200) })),
    );
    const e = toBase64Url(q.requestId);

    expect(Date.now()).toBeLessThan(sealShort);
    // (c) d: the second signature comes too late.
    await sleep(Math.max(0, sealShort - Date.now() + 500));
    const late = await runCli([
      'trustee',
      'extend',
      d,
      '--approve',
      '--number',
      '1',
      '--data',
      trusteeDir(2),
      '--json',
    ]);
    expect(late.code).not.toBe(0);
    expect(late.stdout).toMatch(/WF-X6|ACCESS_SEAL_EXPIRED|ACC-U3/);
    const lateProposal = await runCli([
      'request',
      'extend',
      d,
      ...base(),
      '--until',
      new Date(Date.now() + 3_600_000).toISOString(),
      '--reason',
      'too late',
      '--json',
    ]);
    expect(lateProposal.code).not.toBe(0);
    expect(lateProposal.stdout + lateProposal.stderr).toMatch(/ACCESS_SEAL_EXPIRED|ACCESS_UNSEALED/);

    // (a) The relay unseals a at its date (its task runs every 5 s): publisher 0, the justification filed.
    const pa = await eventually('the relay to unseal a', () => publicRead(a));
    const ua = unsealOf(pa);
    expect(ua.publisher).toBe(0);
    expect(ua.opening.confidential.justification).toBe('relay unseals this');
    expect(ua.unsealedAt).toBeGreaterThanOrEqual(sealShort);
    expect(fromBase64Url(a)).toEqual(ua.requestId);
    // d too (the relay holds its part; its extension never reached k signatures).
    expect(unsealOf(await eventually('the relay to unseal d', () => publicRead(d))).publisher).toBe(0);

    // (b) b has no relay part: a trustee publishes it after the grace, exactly one unseal.
    const pb = await eventually('a trustee to unseal b', () => publicRead(b));
    const ub = unsealOf(pb);
    expect([1, 2, 3]).toContain(ub.publisher);
    expect(ub.opening.confidential.justification).toBe('a trustee unseals this');
    expect(ub.unsealedAt).toBeGreaterThan(sealShort + GRACE_MS);
    const unsealed = (await (await fetch(`${sys.relay}/v1/access/unsealed?limit=1000`)).json()) as {
      unsealed: { requestId: string; index: number }[];
    };
    expect(unsealed.unsealed.filter((u) => u.requestId === b)).toHaveLength(1);
    expect(unsealed.unsealed.map((u) => u.requestId)).not.toContain(c);

    // (d) e: nobody can open it; every trustee flags it, once, after the grace; no other request is flagged.
    for (const i of [1, 2, 3]) {
      const alerts = await eventually(`trustee ${i} to flag e overdue`, async () => {
        const list = (await operator(trusteeDir(i), '/v1/alerts')).alerts as {
          kind: string;
          detail: string;
        }[];
        const overdue = list.filter((x) => x.kind === 'seal-overdue');
        return overdue.some((x) => x.detail.includes(e)) ? overdue : undefined;
      });
      expect(alerts.filter((x) => x.detail.includes(e))).toHaveLength(1);
      for (const other of [a, b, c, d]) expect(alerts.some((x) => x.detail.includes(other))).toBe(false);
    }
    expect(await publicRead(e)).toBeUndefined();

    // c, past its original date (and a relay pass later), is still sealed: its extensions are in force.
    await sleep(Math.max(0, t0 + 150_000 - Date.now() + 6_000));
    expect(await publicRead(c)).toBeUndefined();
    const again = (await operator(trusteeDir(1), '/v1/alerts')).alerts as { kind: string; detail: string }[];
    expect(again.filter((x) => x.kind === 'seal-overdue' && x.detail.includes(e))).toHaveLength(1);
    expect(again.some((x) => x.kind === 'seal-overdue' && x.detail.includes(c))).toBe(false);
  }, 420_000);
});
