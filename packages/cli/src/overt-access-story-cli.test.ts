/**
 * The whole accountable-access story from the command line against npm start WITH the trustee daemons
 * (wt-ceremony) and their access hooks and CLI (wt-access): alice sends bob messages; the requester files a
 * request for alice's; trustees 1 and 2 approve it (`overt trustee approve`); the relay executes; the daemons
 * release their shares; `request status` shows executed with two releases; `request collect` opens every message;
 * `request open` writes the evidence bundle (and archive); `evidence verify` passes; a flipped byte fails it and
 * names the file. Trustee 3, which did not approve, releases nothing although it followed the log past the
 * execution; the request's entries (request, two decisions, execution, two releases per batch) are read back from
 * the log's own tiles. `overt trustee serve` runs a fourth daemon against the same relay and stops on SIGTERM.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBase64Url } from '@overt/core';
import { decodeEntryBundle, entryBundlePath } from '@overt/log';
import { describe, expect, it } from 'vitest';
import { ok, useNpmStart } from '../test/npm-start.js';
import { runCli, startDaemon } from '../test/run-cli.js';

const sys = useNpmStart('overt-access-story-');
const alice = join(sys.tmp, 'alice');
const bob = join(sys.tmp, 'bob');
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

/** GET on trustee `dir`'s operator API with its token (api.url and api.token, as `overt trustee` reads them). */
async function operator(dir: string, path: string): Promise<Record<string, unknown>> {
  const url = readFileSync(join(dir, 'api.url'), 'utf8').trim();
  const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
  const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** The entry at `index`, read from the relay's log tiles (tlog-tiles entry bundles). */
async function logEntry(index: number): Promise<Uint8Array> {
  const cp = await (await fetch(`${sys.relay}/log/checkpoint`)).text();
  const size = Number(cp.split('\n')[1]);
  expect(index).toBeLessThan(size);
  const bundle = Math.floor(index / 256);
  const full = (bundle + 1) * 256 <= size;
  const path = entryBundlePath({ index: bundle, width: full ? 256 : size - bundle * 256 });
  const res = await fetch(`${sys.relay}/log/${path}`);
  expect(res.status).toBe(200);
  return decodeEntryBundle(new Uint8Array(await res.arrayBuffer()))[index % 256]!;
}

const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).includes(Buffer.from(needle));

describe('accountable access end to end', () => {
  it('file → approve by 2 → both release, trustee 3 nothing; the entries are on the log → collect → open → evidence verify → a flipped byte fails naming the file', async () => {
    writeFileSync(anchors(), await (await fetch(`${sys.relay}/.well-known/overt`)).text());
    await Promise.all([sys.enrol('alice', alice), sys.enrol('bob', bob)]);
    await ok(['chat', 'list', '--profile', bob]);
    const conv = (await ok(['chat', 'new', '--profile', alice, '--with', 'bob'])).conversation as string;
    await ok(['send', '--profile', alice, '--to', conv, 'the ledger is in the safe']);
    await ok(['send', '--profile', alice, '--to', conv, 'burn it after reading']);

    const document = join(sys.tmp, 'order.pdf');
    writeFileSync(document, 'Court order 42/2026');
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
      '--legal-basis',
      'Court order 42/2026',
      '--document',
      document,
      '--justification',
      'fraud investigation',
      '--case-ref',
      'CASE-42',
    ]);
    const id = filed.requestId as string;

    // Trustees 1 and 2 review (they see the confidential part) and approve.
    for (const i of [1, 2]) {
      const dir = trusteeDir(i);
      let seen = false;
      for (let t = 0; t < 60 && !seen; t++) {
        const review = await ok(['trustee', 'review', '--data', dir]);
        seen = JSON.stringify(review).includes(id);
        if (!seen) await sleep(500);
      }
      expect(seen).toBe(true);
      await ok(['trustee', 'approve', id, '--data', dir, '--reason', 'order checked']);
    }

    // Executed, and both approving trustees released (they follow the log).
    let status: Record<string, unknown> = {};
    for (let t = 0; t < 120; t++) {
      status = await ok(['request', 'status', id, ...base()]);
      if (status.status === 'executed' && (status.releases as unknown[]).length >= 2) break;
      await sleep(1000);
    }
    expect(status).toMatchObject({ status: 'executed', execution: { envelopes: 2 }, refusals: [] });
    expect((status.decisions as { verdict: string }[]).map((d) => d.verdict)).toEqual(['approve', 'approve']);
    const releases = status.releases as { trustee: number; batch: number; index: number }[];
    expect(releases.map((r) => r.trustee).sort()).toEqual([1, 2]);
    expect(releases.every((r) => r.batch === 0)).toBe(true);

    // On the log itself: the request, two decisions, the execution and two releases (one batch), each naming it.
    const idBytes = fromBase64Url(id);
    const execution = status.execution as { index: number };
    const logged: [number, number][] = [
      [status.requestIndex as number, 5],
      ...(status.decisions as { index: number }[]).map((d): [number, number] => [d.index, 6]),
      [execution.index, 7],
      ...releases.map((r): [number, number] => [r.index, 8]),
    ];
    expect(logged).toHaveLength(6);
    for (const [index, type] of logged) {
      const entry = await logEntry(index);
      expect(entry[0]).toBe(type);
      expect(contains(entry, idBytes)).toBe(true);
    }

    // Trustee 3 did not approve: it followed the log past the execution and released nothing.
    let t3: Record<string, unknown> = {};
    for (let t = 0; t < 60; t++) {
      t3 = await operator(trusteeDir(3), '/v1/status');
      if (((t3.access as { nextIndex: number } | null)?.nextIndex ?? 0) > execution.index) break;
      await sleep(500);
    }
    expect((t3.access as { nextIndex: number }).nextIndex).toBeGreaterThan(execution.index);
    const item = (await ok(['trustee', 'review', '--all', '--data', trusteeDir(3)])).requests as {
      requestId: string;
      decision?: string;
    }[];
    const mine = item.find((x) => x.requestId === id);
    expect(mine).toBeDefined();
    expect(mine!.decision ?? null).toBeNull();
    await sleep(2_500); // more than one idle poll of the daemons
    const after = await ok(['request', 'status', id, ...base()]);
    expect((after.releases as { trustee: number }[]).map((r) => r.trustee).sort()).toEqual([1, 2]);
    for (const i of [1, 2, 3]) expect((await operator(trusteeDir(i), '/v1/alerts')).alerts).toEqual([]);

    const caseDir = join(sys.tmp, 'case');
    const collected = await ok(['request', 'collect', id, ...base(), '--out', caseDir]);
    expect(collected).toMatchObject({ ok: true, envelopes: 2, opened: 2, failed: 0, badTrustees: [] });

    const evidence = join(sys.tmp, 'evidence');
    const archive = join(sys.tmp, 'evidence.overt');
    const opened = await ok([
      'request',
      'open',
      id,
      ...base(),
      '--case',
      caseDir,
      '--out',
      evidence,
      '--archive',
      archive,
    ]);
    expect(opened).toMatchObject({ ok: true, verified: true, opened: 2 });
    const texts = [0, 1]
      .map((p) => readFileSync(join(evidence, 'messages', String(p), 'text.txt'), 'utf8'))
      .sort();
    expect(texts).toEqual(['burn it after reading', 'the ledger is in the safe']);

    for (const target of [evidence, archive])
      expect(await ok(['evidence', 'verify', target, '--org-anchors', anchors()])).toMatchObject({
        ok: true,
      });

    const file = join(evidence, 'messages', '0', 'text.txt');
    const bytes = readFileSync(file);
    bytes[0]! ^= 1;
    writeFileSync(file, bytes);
    const bad = await runCli(['evidence', 'verify', evidence, '--org-anchors', anchors(), '--json']);
    expect(bad.code).toBe(1);
    expect(
      JSON.parse(bad.stdout).failures.some((f: { file?: string }) => f.file === 'messages/0/text.txt'),
    ).toBe(true);
  }, 600_000);

  it('overt trustee serve runs a daemon against the relay, writes api.url, and stops on SIGTERM', async () => {
    const usage = await runCli(['trustee', 'serve', '--data', join(sys.tmp, 't4')]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--relay');
    const dir = join(sys.tmp, 't4');
    const pass = join(sys.tmp, 't4.pass');
    writeFileSync(pass, 'correct horse battery staple\n', { mode: 0o600 });
    const d = startDaemon([
      'trustee',
      'serve',
      '--data',
      dir,
      '--relay',
      sys.relay,
      '--index',
      '4',
      '--passphrase-file',
      pass,
      '--json',
    ]);
    const listening = await d.waitFor((e) => e.event === 'listening', 60_000);
    expect(listening).toMatchObject({ index: 4, access: true });
    expect(readFileSync(join(dir, 'api.url'), 'utf8').trim()).toBe(listening.url);
    // It follows the log (the access half from entry 0); it is named in no policy, so it decides nothing.
    let st: Record<string, unknown> = {};
    for (let t = 0; t < 60; t++) {
      st = await operator(dir, '/v1/status');
      if (((st.access as { nextIndex: number }).nextIndex ?? 0) > 0) break;
      await sleep(500);
    }
    expect((st.access as { nextIndex: number }).nextIndex).toBeGreaterThan(0);
    const stopped = await d.stop();
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('"stopped"');
    expect(existsSync(join(dir, 'api.url'))).toBe(false);
    // A wrong passphrase on the next start: exit 1 with the vault's code, nothing secret printed.
    writeFileSync(pass, 'wrong\n', { mode: 0o600 });
    const wrong = await runCli([
      'trustee',
      'serve',
      '--data',
      dir,
      '--relay',
      sys.relay,
      '--passphrase-file',
      pass,
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/TRUSTEE_VAULT_KEY/);
    expect(wrong.stderr).not.toContain('wrong');
  }, 180_000);
});
