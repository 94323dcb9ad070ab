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
import { computeAccessStats } from '@overt/client';
import { fromBase64, generateSigningKey, toBase64 } from '@overt/core';
import {
  MemoryMonitorStore,
  Monitor,
  makeWitnessPolicy,
  parseSignerKey,
  parseVerifierKey,
  type VerifiedCheckpoint,
} from '@overt/log';
import { signDeviceStatement } from '@overt/server';
import { type RunningSystem, startSystem } from '@overt/up';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../server/test/harness.js';

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
    sys = await startSystem({ dataDir: join(tmp, 'data'), port: 0, webRoot: out, heartbeatMs: 1_000 });
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
    const stats = computeAccessStats(
      log,
      {
        orgKey: fromBase64(s.wellKnown.admin_key),
        relayKey: fromBase64(s.wellKnown.accessKey),
        orgId: s.wellKnown.org,
      },
      Date.now(),
    );
    expect(await text('total-requests')).toBe(String(stats.totals.requests));
    expect(await text('total-approvals')).toBe(String(stats.totals.approvals));
    expect(await text('total-denials')).toBe(String(stats.totals.denials));
    expect(await text('total-released')).toBe(String(stats.totals.envelopesReleased));
    expect(await text('total-shreds')).toBe(String(stats.totals.shreds));
    expect(await text('seals')).toContain(`${stats.seals.sealed} sealed`);
  });

  it('after entries are added, a reload proves the log consistent with the checkpoint seen before', async () => {
    const s = sys!;
    const before = (await readLog(s)).checkpoint.size;
    // Two entries on the relay's log: a user's device enrolled by the admin (directory statements).
    const admin = parseSignerKey(readFileSync(s.adminKeyPath, 'utf8').trim());
    const client = new Client(s.url, admin.keyPair, { kind: 'admin' });
    expect((await client.request('POST', '/v1/admin/users', { userId: 'dana' })).status).toBe(201);
    const statement = signDeviceStatement(admin.keyPair, {
      kind: 'added',
      orgId: s.wellKnown.org,
      userId: 'dana',
      deviceId: 'dana-laptop',
      identityKey: generateSigningKey().publicKey,
      time: Date.now(),
    });
    const r = await client.request('POST', '/v1/admin/devices', { statement: toBase64(statement) });
    expect(r.status).toBe(201);
    let after = before;
    for (let i = 0; i < 100 && after <= before; i++) {
      await new Promise((res) => setTimeout(res, 100));
      after = (await readLog(s)).checkpoint.size;
    }
    expect(after).toBeGreaterThan(before);
    await page.reload();
    await page.getByTestId('checkpoint-status').waitFor({ timeout: 30_000 });
    expect(await text('consistency')).toContain(`consistent with the checkpoint seen before (size ${before}`);
    expect(Number(await text('size'))).toBeGreaterThanOrEqual(after);
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
