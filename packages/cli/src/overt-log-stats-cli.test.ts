// `overt log stats` and the overdue seals of `overt log verify` (docs/spec/after-release.md §3, §5; OVD-1, STAT-1)
// as a user runs them: a real witness and a real log (`overt witness serve`, `overt log serve`) on ephemeral ports,
// the scripted access history of packages/client/test/access-history.ts appended over HTTP, then the spawned
// commands. The numbers must be those computeAccessStats gives for the same entries (which stats.test.ts checks by
// hand), in JSON and in the table; the overdue seal is one line and exit code 0.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AccessStats, computeAccessStats } from '@overt/client';
import { toBase64, toBase64Url } from '@overt/core';
import { MemoryMonitorStore, Monitor, makeWitnessPolicy, parseVerifierKey } from '@overt/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayKey } from '../../client/test/access-case.js';
import {
  buildScriptedHistory,
  DAY,
  DEC,
  logViewOf,
  NOW,
  type ScriptedHistory,
} from '../../client/test/access-history.js';
import { orgKey } from '../../core/test/workflow-fixtures.js';
import { tempDirs } from '../../witness/test/fixtures.js';
import { type Daemon, runCli, runInProcess, startDaemon } from '../test/run-cli.js';

const ORIGIN = 'stats.test/log';
const dirs = tempDirs();
let work: string;
let logVkey: string;
let witnessVkey: string;
let witness: Daemon;
let log: Daemon;
let logUrl: string;
let history: ScriptedHistory;
let expected: AccessStats;

const ORG_KEY = toBase64(orgKey.publicKey);
const ACCESS_KEY = toBase64(relayKey.publicKey);
const NOW_ISO = new Date(NOW).toISOString();

function json(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim()) as Record<string, unknown>;
}

beforeAll(async () => {
  work = dirs.make();
  const [l, w] = await Promise.all([
    runInProcess(['log', 'init', '--data', join(work, 'log'), '--origin', ORIGIN, '--json']),
    runInProcess([
      'witness',
      'init',
      '--data',
      join(work, 'witness'),
      '--name',
      'witness.stats.test',
      '--json',
    ]),
  ]);
  expect(l.code).toBe(0);
  expect(w.code).toBe(0);
  logVkey = json(l.stdout).vkey as string;
  witnessVkey = json(w.stdout).vkey as string;
  witness = startDaemon([
    'witness',
    'serve',
    '--data',
    join(work, 'witness'),
    '--port',
    '0',
    '--log',
    `${ORIGIN}=${logVkey}`,
    '--json',
  ]);
  const wl = await witness.waitFor((e) => e.event === 'listening');
  log = startDaemon([
    'log',
    'serve',
    '--data',
    join(work, 'log'),
    '--port',
    '0',
    '--origin',
    ORIGIN,
    '--witness',
    `${wl.url as string}=${witnessVkey}`,
    '--json',
  ]);
  logUrl = (await log.waitFor((e) => e.event === 'listening')).url as string;

  history = buildScriptedHistory();
  const { entries } = logViewOf(history.log);
  for (const [i, e] of entries.entries()) {
    const res = await fetch(`${logUrl}add${i === entries.length - 1 ? '?wait=witnessed' : ''}`, {
      method: 'POST',
      body: new Uint8Array(e),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
  // What any auditor computes from the same log: read back through a verifying monitor, then counted.
  const read: Uint8Array[] = [];
  const monitor = new Monitor({
    policy: {
      origin: ORIGIN,
      logKeys: [parseVerifierKey(logVkey)],
      witnesses: makeWitnessPolicy([parseVerifierKey(witnessVkey)], 1),
    },
    url: logUrl,
    fetch: (u) => fetch(u),
    store: new MemoryMonitorStore(),
    onEntry: (i, e) => {
      read[i] = e;
    },
  });
  const r = await monitor.update();
  if (r.kind !== 'ok') throw new Error(`monitor: ${r.kind}`);
  expected = computeAccessStats(
    { checkpoint: r.checkpoint, entries: read },
    { orgKey: orgKey.publicKey, relayKey: relayKey.publicKey },
    NOW,
  );
}, 120_000);

afterAll(async () => {
  const results = await Promise.all([log?.stop(), witness?.stop()]);
  dirs.cleanup();
  for (const r of results) expect(r?.code).toBe(0);
});

const trust = () => ['--vkey', logVkey, '--witness', witnessVkey];
const orgKeys = ['--org-key', ORG_KEY, '--access-key', ACCESS_KEY];
const overdueB = () => toBase64Url(history.requests.B.request.requestId);

describe('overt log stats (STAT-1)', () => {
  it('prints the statistics of the verified log: the same JSON as computeAccessStats, and a table', async () => {
    const r = await runCli(['log', 'stats', logUrl, ...trust(), ...orgKeys, '--now', NOW_ISO, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r.stdout);
    expect(out.ok).toBe(true);
    const { ok: _, ...stats } = out;
    expect(JSON.stringify(stats)).toBe(JSON.stringify(expected));
    // The hand-counted numbers of stats.test.ts, as a user sees them.
    expect(expected.totals).toMatchObject({
      requests: 4,
      approvals: 4,
      denials: 3,
      envelopesReleased: 7,
      invalid: 16,
    });
    expect(expected.checkpoint.size).toBe(history.log.size);

    const human = await runCli(['log', 'stats', logUrl, ...trust(), ...orgKeys, '--now', NOW_ISO]);
    expect(human.code, human.stderr).toBe(0);
    const lines = human.stdout.split('\n');
    expect(lines[0]).toBe(
      `ok ${ORIGIN}: size ${history.log.size}, root ${expected.checkpoint.rootHash}, at ${NOW_ISO}`,
    );
    expect(human.stdout).toContain('requests 4, approvals 4, denials 3, executions 2');
    expect(human.stdout).toContain('envelopes selected 8, released 7 (4 release entries)');
    expect(human.stdout).toContain('entries that count for nothing: 16 invalid, 2 repeated');
    expect(
      lines
        .find((l) => l.trimStart().startsWith('internal-investigations'))
        ?.split(/\s+/)
        .filter(Boolean),
    ).toEqual(['internal-investigations', '2', '4', '1', '2', '7', '2']);
    expect(
      lines
        .find((l) => l.trimStart().startsWith('2026-12'))
        ?.split(/\s+/)
        .filter(Boolean),
    ).toEqual(['2026-12', '2', '2', '3', '1', '4', '4', '1', '0']);
    expect(human.stdout).toContain('seals: 3 sealed (2 due, 1 overdue), 1 unsealed');
    const since = new Date(DEC + 11 * DAY).toISOString();
    expect(lines.filter((l) => l.startsWith('overdue seal:'))).toEqual([
      `overdue seal: request ${overdueB()} since ${since}`,
    ]);
    expect(human.stdout).toContain('epoch 11: shredded (shreds by trustee(s) 1, 2)');
    expect(human.stdout).toContain('epoch 12: not shredded (shreds by trustee(s) 3)');
  });

  it('takes the trust material from a saved /.well-known/overt too, and refuses without org keys', async () => {
    const anchors = join(work, 'org.json');
    writeFileSync(
      anchors,
      JSON.stringify({
        org: 'example.org',
        admin_key: ORG_KEY,
        accessKey: ACCESS_KEY,
        log: { origin: ORIGIN, url: logUrl, vkey: logVkey, witness_vkeys: [witnessVkey], witness_quorum: 1 },
      }),
    );
    const r = await runInProcess([
      'log',
      'stats',
      logUrl,
      '--org-anchors',
      anchors,
      '--now',
      NOW_ISO,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { ok: _, ...stats } = json(r.stdout);
    expect(JSON.stringify(stats)).toBe(JSON.stringify(expected));

    const missing = await runInProcess(['log', 'stats', logUrl, ...trust()]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--org-anchors FILE, or --org-key and --access-key');
    const half = await runInProcess(['log', 'stats', logUrl, ...trust(), '--org-key', ORG_KEY]);
    expect(half.code).toBe(2);
    const mixed = await runInProcess(['log', 'stats', logUrl, '--org-anchors', anchors, '--vkey', logVkey]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('leave out --vkey');
    const badNow = await runInProcess(['log', 'stats', logUrl, ...trust(), ...orgKeys, '--now', 'yesterday']);
    expect(badNow.code).toBe(2);
    const help = await runInProcess(['log', 'stats', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('overt log stats http://');
  });

  it('fails like log verify when the log does not verify (another log key: exit 1)', async () => {
    const other = await runInProcess([
      'log',
      'init',
      '--data',
      join(work, 'other'),
      '--origin',
      ORIGIN,
      '--json',
    ]);
    const r = await runInProcess([
      'log',
      'stats',
      logUrl,
      '--vkey',
      json(other.stdout).vkey as string,
      '--witness',
      witnessVkey,
      ...orgKeys,
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(json(r.stdout)).toMatchObject({ ok: false, failure: 'invalid_checkpoint' });
  });
});

describe('overt log verify: overdue seals (OVD-1)', () => {
  it('lists each overdue seal in one line and under overdue, exit code 0; none before its date', async () => {
    const r = await runCli(['log', 'verify', logUrl, ...trust(), ...orgKeys, '--now', NOW_ISO]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('access workflow read');
    const since = new Date(DEC + 11 * DAY).toISOString();
    expect(r.stdout.split('\n').filter((l) => l.startsWith('overdue seal:'))).toEqual([
      `overdue seal: request ${overdueB()} since ${since}`,
    ]);
    const j = await runInProcess([
      'log',
      'verify',
      logUrl,
      ...trust(),
      ...orgKeys,
      '--now',
      NOW_ISO,
      '--json',
    ]);
    expect(j.code).toBe(0);
    expect(json(j.stdout)).toMatchObject({
      ok: true,
      overdue: [
        { requestId: overdueB(), sealUntil: DEC + 11 * DAY, since, overdueMs: NOW - (DEC + 11 * DAY) },
      ],
    });
    // The instant the seal runs out is not yet overdue (workflow.md §9.8).
    const at = await runInProcess([
      'log',
      'verify',
      logUrl,
      ...trust(),
      ...orgKeys,
      '--now',
      since,
      '--json',
    ]);
    expect(json(at.stdout).overdue).toEqual([]);
    // Without the org keys, verify reads no access workflow and says nothing about seals.
    const plain = await runInProcess(['log', 'verify', logUrl, ...trust(), '--json']);
    expect(plain.code).toBe(0);
    expect(json(plain.stdout).overdue).toBeNull();
    const nowAlone = await runInProcess(['log', 'verify', logUrl, ...trust(), '--now', NOW_ISO]);
    expect(nowAlone.code).toBe(2);
  });
});
