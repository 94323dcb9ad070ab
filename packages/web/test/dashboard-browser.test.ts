/**
 * The transparency dashboard in a real browser (docs/spec/web.md): the web app built with Vite from the sources,
 * served by a real relay (startSystem: the relay with its log, two witness processes, three trustee daemons), and
 * Debian's chromium driven headless by playwright-core. The page verifies the checkpoint with both cosignatures,
 * proves consistency with the checkpoint it saw on the previous visit after the log grew, shows the statistics
 * computeAccessStats gives for the same log (computed here, independently, through @overt/log's Monitor), verifies an
 * entry's inclusion proof; a checkpoint with one byte of its root changed, and a hash tile with one byte changed,
 * are shown as red failures naming their check.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccessRelayClient, buildRequest, computeAccessStats } from '@overt/client';
import {
  equalBytes,
  fromBase64,
  POLICY_ENTRY_TYPE,
  sealConfidential,
  sha256,
  toBase64,
  utf8Encode,
  verifyPolicyEntry,
} from '@overt/core';
import {
  MemoryMonitorStore,
  Monitor,
  makeWitnessPolicy,
  parseVerifierKey,
  type VerifiedCheckpoint,
} from '@overt/log';
import { type RunningSystem, requesterKeysFromSecret, startSystem } from '@overt/up';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const web = fileURLToPath(new URL('../', import.meta.url));
const src = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'overt-web-'));
const shots = process.env.OVERT_WEB_SHOTS ?? join(tmp, 'shots');

let sys: RunningSystem | undefined;
let context: BrowserContext | undefined;
let page: Page;

afterAll(async () => {
  await context?.close().catch(() => {});
  await sys?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** The log as this test reads it, through @overt/log's Monitor (not the page's code): checkpoint and entries. */
async function readLog(s: RunningSystem): Promise<{ checkpoint: VerifiedCheckpoint; entries: Uint8Array[] }> {
  const wk = s.wellKnown;
  const entries: Uint8Array[] = [];
  const monitor = new Monitor({
    policy: {
      origin: wk.log.origin,
      logKeys: [parseVerifierKey(wk.log.vkey)],
      witnesses: makeWitnessPolicy(wk.log.witness_vkeys.map(parseVerifierKey), wk.log.witness_quorum),
    },
    url: `${s.url}/log/`,
    fetch: (u) => fetch(u),
    store: new MemoryMonitorStore(),
    onEntry: (_i, e) => void entries.push(e),
  });
  const r = await monitor.update();
  if (r.kind !== 'ok') throw r.error;
  return { checkpoint: r.checkpoint, entries };
}

async function text(testId: string): Promise<string> {
  return (await page.getByTestId(testId).first().textContent()) ?? '';
}

/** The page's statistics are those computeAccessStats gives for the same log. */
async function expectStats(s: RunningSystem, log: { checkpoint: VerifiedCheckpoint; entries: Uint8Array[] }) {
  const anchors = {
    orgKey: fromBase64(s.wellKnown.admin_key),
    relayKey: fromBase64(s.wellKnown.accessKey),
    orgId: s.wellKnown.org,
  };
  const stats = computeAccessStats(log, anchors, Date.now());
  const t = stats.totals;
  for (const [id, n] of [
    ['requests', t.requests],
    ['approvals', t.approvals],
    ['denials', t.denials],
    ['executions', t.executions],
    ['released', t.envelopesReleased],
    ['refusals', t.refusals],
    ['unseals', t.unseals],
    ['shreds', t.shreds],
  ] as const)
    expect(await text(`total-${id}`), id).toBe(String(n));
  const seals = stats.seals;
  expect(await text('seals')).toBe(
    `${seals.sealed} sealed (${seals.due.length} due, ${seals.overdue.length} overdue), ${seals.unsealed} unsealed`,
  );
  return stats;
}

describe.skipIf(!existsSync(CHROMIUM))('transparency dashboard in chromium (web.md)', () => {
  beforeAll(async () => {
    // The app from the sources (as vitest resolves @overt/*), into a temporary directory: never the shared dist.
    const { build } = await import('vite');
    const out = join(tmp, 'dist');
    await build({
      configFile: join(web, 'vite.config.ts'),
      logLevel: 'warn',
      resolve: {
        alias: [
          { find: /^@overt\/([a-z]+)$/, replacement: src('$1/src/index.ts') },
          { find: 'crypto', replacement: join(web, 'src/node-crypto-shim.ts') },
        ],
      },
      build: { outDir: out, emptyOutDir: true },
    });
    sys = await startSystem({
      dataDir: join(tmp, 'data'),
      port: 0,
      webRoot: out,
      heartbeatMs: 1_000,
      unsealPollMs: 200,
    });
    context = await chromium.launchPersistentContext(join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
  }, 120_000);

  it('verifies the checkpoint with both cosignatures, and shows the statistics computeAccessStats gives', async () => {
    const s = sys!;
    await page.goto(`${s.url}/`);
    await page.getByTestId('checkpoint-status').waitFor({ timeout: 30_000 });
    expect(await text('cosig-count')).toBe('2');
    expect(await text('consistency')).toContain('First visit');
    const log = await readLog(s);
    const size = Number(await text('size'));
    // The heartbeat re-cosigns without appending, so the page and this test see the same tree.
    expect(size).toBe(log.checkpoint.size);
    expect(await text('root')).toBe(toBase64(log.checkpoint.rootHash));
    await expectStats(s, log);
  });

  it('after entries are added, a reload proves the log consistent with the checkpoint seen before', async () => {
    const s = sys!;
    const before = (await readLog(s)).checkpoint.size;
    // An access request filed by the deployment's requester (its keys from requester/secret.key, start.md §4.3),
    // sealed for a second, its opening sealed to the relay's unseal key: the relay unseals it (after-release.md §1).
    // Two more entries, and statistics that are not all zero (a request, unsealed, per month, per requester).
    const entries = (await readLog(s)).entries;
    const policy = entries
      .filter((e) => e[0] === POLICY_ENTRY_TYPE)
      .map((e) => verifyPolicyEntry(fromBase64(s.wellKnown.admin_key), e))
      .sort((a, b) => b.policy.serial - a.policy.serial)[0]!;
    const keys = await requesterKeysFromSecret(readFileSync(join(s.dataDir, 'requester', 'secret.key')));
    const requester = policy.policy.requesters.find((r) =>
      equalBytes(r.signingKey, keys.signingKey.publicKey),
    )!;
    const now = Date.now();
    const built = await buildRequest({
      policy,
      requesterId: requester.id,
      signingKey: keys.signingKey,
      legalBasis: 'Court order 7/2026',
      documentHash: sha256(utf8Encode('Court order 7/2026')),
      subjects: ['dana'],
      window: { from: now - 3_600_000, until: now },
      maxEnvelopes: policy.policy.limits.maxEnvelopes,
      sealUntil: now + 1_000,
      createdAt: now,
      confidential: { justification: 'dashboard test', caseReference: 'CASE-7' },
    });
    await new AccessRelayClient({
      url: s.url,
      signer: { kind: 'requester', id: requester.id, key: keys.signingKey },
    }).fileRequest(
      built.signed,
      built.sealed,
      await sealConfidential(fromBase64(s.wellKnown.unsealKey), 0, built.verified, built.opening),
    );
    let after = before;
    for (let i = 0; i < 150 && after < before + 2; i++) {
      await new Promise((res) => setTimeout(res, 100));
      after = (await readLog(s)).checkpoint.size;
    }
    expect(after).toBe(before + 2);
    await page.reload();
    await page.getByTestId('checkpoint-status').waitFor({ timeout: 30_000 });
    expect(await text('consistency')).toContain(`consistent with the checkpoint seen before (size ${before}`);
    const log = await readLog(s);
    expect(Number(await text('size'))).toBe(log.checkpoint.size);
    const stats = await expectStats(s, log);
    expect(stats.totals.requests).toBe(1);
    expect(stats.seals.unsealed).toBe(1);
    const row = await text('unsealed');
    for (const shown of ['Court order 7/2026', 'dashboard test', 'CASE-7', requester.id, 'relay'])
      expect(row).toContain(shown);
    expect(await page.getByRole('img', { name: /Per requester: local-requester 1 requests/ }).count()).toBe(
      1,
    );
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
  });

  it('shows an entry with its inclusion proof verified; a changed hash tile fails MERKLE-4', async () => {
    await page.getByTestId('entry-index').fill('1');
    await page.getByTestId('entry-go').click();
    await page.getByTestId('inclusion').waitFor({ timeout: 15_000 });
    expect(await text('inclusion')).toContain('inclusion proof verified: entry 1');
    expect(await text('entry-type')).not.toBe('');
    // One byte of leaf 0's hash changed in the level-0 tile: entry 1's proof no longer reaches the root.
    await page.route('**/log/tile/0/000**', async (route) => {
      const res = await route.fetch();
      const body = Buffer.from(await res.body());
      body[5] = body[5]! ^ 0x01;
      await route.fulfill({ response: res, body });
    });
    await page.getByTestId('entry-go').click();
    const fail = page.getByTestId('failure');
    await fail.waitFor({ timeout: 15_000 });
    expect(await fail.getAttribute('data-check')).toBe('MERKLE-4');
    await page.unroute('**/log/tile/0/000**');
  });

  it('a checkpoint with one byte of its root changed is shown as a red failure with its check ID', async () => {
    await page.route('**/log/checkpoint', async (route) => {
      const res = await route.fetch();
      const lines = (await res.text()).split('\n');
      const root = fromBase64(lines[2]!);
      root[0] = root[0]! ^ 0x01;
      lines[2] = toBase64(root);
      await route.fulfill({ response: res, body: lines.join('\n') });
    });
    await page.reload();
    const fail = page.getByTestId('failure');
    await fail.waitFor({ timeout: 30_000 });
    const check = await fail.getAttribute('data-check');
    expect(check).toMatch(/^(CKPT|NOTE)-\d+$/);
    expect(await fail.textContent()).toContain(`failed check ${check}`);
    expect(await page.getByTestId('checkpoint-status').count()).toBe(0);
    await page.screenshot({ path: join(shots, 'tampered.png'), fullPage: true });
    await page.unroute('**/log/checkpoint');
  });
});
