/**
 * `overt demo` as a newcomer runs it (issue #12, docs/spec/demo.md, demo-attacks.md): `overt up --demo-users`
 * spawned on a temporary data directory and a free port, then `overt demo --server URL` spawned against it —
 * once in full with --json: the story's numbers consistent, the log keys those that verify the live checkpoint, the
 * evidence bundle accepted by `overt evidence verify`, and every attack A1–A16 attempted and seen to fail with its
 * check ID; after which the system still works for its users (A10's seal lifted by the trustees after their grace,
 * alice's message reaches bob, the log verifies). Once readable and story only (numbered steps, no colour off a
 * terminal). A --server that is not a URL, or a --data that is not that system's, is one line and exit 2; one that
 * does not answer, exit 4.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeWitnessPolicy, parseCheckpoint, parseVerifierKey, verifyCheckpoint } from '@overt/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopChild } from '../../../test/children.js';
import { runCli, runInProcess } from '../test/run-cli.js';
import { freePort, startUp } from '../test/up.js';

const tmp = mkdtempSync(join(tmpdir(), 'overt-demo-cli-'));
const data = join(tmp, 'data');
let system: Awaited<ReturnType<typeof startUp>> | undefined;
let url = '';

beforeAll(async () => {
  // The trustee daemons lift a seal the relay cannot (A10's) this long after its date (default 60 s).
  system = await startUp(data, await freePort(), ['--demo-users'], { OVERT_UNSEAL_GRACE_MS: '15000' });
  url = system.url;
}, 180_000);

afterAll(async () => {
  try {
    if (system !== undefined) await stopChild(system.child, { leader: true, graceMs: 10_000 });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

interface DemoJson {
  ok: boolean;
  log: { url: string; vkey: string; witness_vkeys: string[]; witness_quorum: number; size: number };
  story: {
    request_id: string;
    messages_sent: number;
    in_scope: number;
    opened: number;
    out_of_scope_opened: number;
    evidence_verified: boolean;
    evidence_dir: string;
    notified: string[];
  };
  attacks: Record<string, string>;
  attacks_seen: Record<string, string>;
  failures: { check: string; message: string }[];
}

/** What each attack must have been seen to do: its outcome and the check ID in brackets in its line. */
const EXPECTED: Record<string, [string, string]> = {
  A1: ['blocked', 'REQ-2'],
  A2: ['blocked', 'SHR-6'],
  A3: ['blocked', 'REL-4'],
  A4: ['blocked', 'REL-5'],
  A5: ['blocked', 'ENV-11'],
  A6: ['blocked', 'KT-3'],
  A7: ['blocked', 'COSIG-5'],
  A8: ['blocked', 'ACC-D1'],
  A9: ['blocked', 'SHR-4'],
  A10: ['detected', 'OVD-1'],
  A11: ['blocked', 'ACC-R1'],
  A12: ['blocked', 'FRK-3'],
  A13: ['blocked', 'TRU-S1'],
  A14: ['blocked', 'AUTH-11'],
  A15: ['blocked', 'RLY-10'],
  A16: ['blocked', 'KT-FRESH-1'],
};

/** `overt … --json` as a demo user types it: OVERT_DATA names the data directory, the passphrase file unlocks. */
async function as(args: readonly string[]): Promise<Record<string, unknown>> {
  const r = await runInProcess([...args, '--json'], { OVERT_DATA: data, OVERT_PROFILE_KEY: undefined });
  if (r.code !== 0) throw new Error(`overt ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('overt demo --server', () => {
  it('--json: one object whose numbers are the story’s, whose log keys verify the live log, whose bundle verifies, and whose every attack failed; the system still works after', async () => {
    const evidence = join(tmp, 'evidence');
    const r = await runCli([
      'demo',
      '--server',
      url,
      '--data',
      data,
      '--seal',
      '10',
      '--evidence',
      evidence,
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]!) as DemoJson;
    expect(j.failures).toEqual([]);
    expect(j.ok).toBe(true);
    expect(Object.keys(j.attacks)).toEqual(Object.keys(EXPECTED));
    for (const [id, [outcome, check]] of Object.entries(EXPECTED)) {
      expect({ id, outcome: j.attacks[id] }).toEqual({ id, outcome });
      expect(j.attacks_seen[id], id).toContain(`[${check}]`);
    }
    const s = j.story;
    expect(s).toMatchObject({
      messages_sent: 6,
      in_scope: 4,
      opened: 4,
      out_of_scope_opened: 0,
      evidence_verified: true,
      evidence_dir: evidence,
      notified: ['alice'],
    });
    expect(s.opened).toBeLessThanOrEqual(s.in_scope);
    expect(s.in_scope).toBeLessThan(s.messages_sent);

    // The keys are the well-known ones, and they verify the checkpoint the log serves now (a C2SP verifier's view).
    const wellKnown = (await (await fetch(`${url}/.well-known/overt`)).json()) as {
      log: { url: string; vkey: string; witness_vkeys: string[]; witness_quorum: number; origin: string };
    };
    expect(j.log).toMatchObject({
      url: wellKnown.log.url,
      vkey: wellKnown.log.vkey,
      witness_vkeys: wellKnown.log.witness_vkeys,
      witness_quorum: 2,
    });
    const cp = verifyCheckpoint(parseCheckpoint(await (await fetch(`${j.log.url}checkpoint`)).text()), {
      origin: wellKnown.log.origin,
      logKeys: [parseVerifierKey(j.log.vkey)],
      witnesses: makeWitnessPolicy(j.log.witness_vkeys.map(parseVerifierKey), j.log.witness_quorum),
    });
    expect(cp.cosignatures).toHaveLength(2);
    expect(j.log.size).toBeGreaterThan(0);
    expect(cp.size).toBeGreaterThanOrEqual(j.log.size);

    // The bundle left in place passes the evidence verifier, pinned to the org's keys.
    const anchors = join(tmp, 'org.json');
    writeFileSync(anchors, JSON.stringify(wellKnown));
    const verified = await runCli(['evidence', 'verify', evidence, '--org-anchors', anchors, '--json']);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });

    // The system still works for the people using it. A10's seal is lifted by a trustee after its grace: the
    // public statistics, from the verified log, show no seal overdue …
    const end = Date.now() + 60_000;
    for (;;) {
      const stats = await runInProcess(['log', 'stats', j.log.url, '--org-anchors', anchors, '--json']);
      expect(stats.code, stats.stderr).toBe(0);
      const seals = (JSON.parse(stats.stdout) as { seals: { overdue: unknown[]; unsealed: number } }).seals;
      if (seals.overdue.length === 0 && seals.unsealed >= 2) break;
      if (Date.now() > end) throw new Error(`a seal is still overdue: ${JSON.stringify(seals.overdue)}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    // … alice's message reaches bob …
    const sent = await as(['send', '--as', 'alice', '--to', 'bob', 'still here after the attacks']);
    const read = (await as(['read', '--as', 'bob'])).events as Record<string, unknown>[];
    expect(read.filter((e) => e.event === 'message')).toContainEqual(
      expect.objectContaining({ text: 'still here after the attacks', messageId: sent.messageId }),
    );
    // … and the log verifies end to end under its key and witness quorum.
    const verify = await runInProcess([
      'log',
      'verify',
      j.log.url,
      '--vkey',
      j.log.vkey,
      ...j.log.witness_vkeys.flatMap((k) => ['--witness', k]),
      '--json',
    ]);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
  }, 420_000);

  it('readable: numbered steps, one or two lines each, no colour off a terminal; a second run on the same system passes', async () => {
    const r = await runCli(['demo', '--server', url, '--data', data, '--no-attacks', '--seal', '5']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\u001b[');
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`Overt demo against ${url} (org overt.localhost)`);
    const steps = lines.filter((l) => /^ ?\d+\. /.test(l)).map((l) => Number(l.trim().split('.')[0]));
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // Every other line is a step's second line (indented), the verdict or what to try.
    expect(lines.every((l) => /^( ?\d+\. | {4}\S|All checks passed\.|Try: )/.test(l) || l === lines[0])).toBe(
      true,
    );
    expect(r.stdout).toContain('All checks passed.');
    expect(r.stdout).toMatch(/opens 4 of 4 in scope/);
    const evidence = /verified offline: (\S+) \(/.exec(r.stdout)?.[1];
    expect(evidence !== undefined && existsSync(evidence)).toBe(true);
    rmSync(evidence!, { recursive: true, force: true });
  }, 300_000);

  it('a --server that is not a URL, or a --data that is not its system, is exit 2; one that does not answer exit 4; each one line', async () => {
    const bad = await runCli(['demo', '--server', 'not a url']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe(
      'overt demo: --server "not a url" is not a URL (e.g. http://127.0.0.1:8420)',
    );
    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = await runCli(['demo', '--server', closed, '--data', data]);
    expect(down.code).toBe(4);
    expect(down.stderr).toBe(`overt demo: cannot reach the relay at ${closed} (ECONNREFUSED)\n`);
    expect(down.stdout).toBe('');
    // The rest in this process, through the same main the binary runs: only start-up time would differ.
    const json = await runInProcess(['demo', '--server', closed, '--json']);
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, error: { kind: 'unavailable' } });
    // A data directory that is not this system's: usage, naming what is wrong, before anything is done.
    const empty = await runInProcess(['demo', '--server', url, '--data', tmp]);
    expect(empty.code).toBe(2);
    expect(empty.stderr.split('\n')[0]).toBe(
      `overt demo: ${tmp} has no demo user alice: start the system with \`overt up --demo-users --data ${tmp}\`, or give its --data`,
    );
    const other = url.replace('127.0.0.1', 'localhost');
    const elsewhere = await runInProcess(['demo', '--server', other, '--data', data]);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain(`belong to the relay at ${url}, not --server ${other}`);
  }, 60_000);
});
