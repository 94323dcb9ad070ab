/**
 * `overt demo` as a newcomer runs it (issue #12, docs/spec/demo.md): `overt up --demo-users` spawned on a temporary
 * data directory and a free port, then `overt demo --server URL --no-attacks` spawned against it — once with --json
 * (the numbers consistent and as the story says, the log keys those that verify the live checkpoint, the evidence
 * bundle accepted by `overt evidence verify`), once readable (numbered steps, no colour off a terminal). A --server
 * that is not a URL, or a --data that is not that system's, is one line and exit 2; one that does not answer, exit
 * 4. The full run with the attacks is the lead's, after merging.
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
  system = await startUp(data, await freePort(), ['--demo-users']);
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
  failures: { check: string; message: string }[];
}

describe('overt demo --server (the story)', () => {
  it('--json: one object whose numbers are the story’s, whose log keys verify the live log, whose bundle verifies', async () => {
    const evidence = join(tmp, 'evidence');
    const r = await runCli([
      'demo',
      '--server',
      url,
      '--data',
      data,
      '--no-attacks',
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
    expect(j.attacks).toEqual({});
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
  }, 300_000);

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
