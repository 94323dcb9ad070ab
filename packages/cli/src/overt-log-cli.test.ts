// `overt log …` and `overt witness …` run as a user would: real processes, a real witness and a real log on
// ephemeral 127.0.0.1 ports, entries appended over HTTP, then `log verify` and `log check-proof` against them,
// reading their output and exit codes (0 ok, 1 verification failed, 2 usage error). The many small refusal and
// usage cases run through the same `main` in-process (runInProcess), against the same servers; process
// start-up (~1.5 s of CPU each) would otherwise dominate.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { toBase64, utf8Encode } from '@overt/core';
import {
  addSignatures,
  CompactRange,
  cosign,
  decodeSplitViewEvidence,
  formatNote,
  leafHash,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signCheckpoint,
  verifySplitViewEvidence,
} from '@overt/log';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../../witness/test/fixtures.js';
import { type Daemon, runCli, runInProcess, startDaemon } from '../test/run-cli.js';
import { parseCommandArgs } from './command.js';
import { logCommands } from './log-commands.js';
import { witnessCommands } from './witness-commands.js';

const ORIGIN = 'cli.test/log';
const dirs = tempDirs();
let work: string;
let logVkey: string;
let witnessVkey: string;
let witness: Daemon;
let log: Daemon;
let logUrl: string;

async function append(entry: string): Promise<string> {
  const res = await fetch(`${logUrl}add?wait=witnessed`, { method: 'POST', body: entry });
  expect(res.status).toBe(200);
  return res.text();
}

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
      'witness.cli.test',
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
  expect(wl.vkey).toBe(witnessVkey);
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
  const ll = await log.waitFor((e) => e.event === 'listening');
  expect(ll.vkey).toBe(logVkey);
  logUrl = ll.url as string;
  for (const [i, entry] of ['alpha', 'bravo', 'charlie'].entries()) {
    writeFileSync(join(work, `entry${i}`), entry);
    writeFileSync(join(work, `receipt${i}`), await append(entry));
  }
});

afterAll(async () => {
  const results = await Promise.all([log?.stop(), witness?.stop()]);
  dirs.cleanup();
  for (const r of results) expect(r?.code).toBe(0);
});

describe('overt log verify', () => {
  it('verifies signature, quorum and tiles, then proves growth against the saved state', async () => {
    const state = join(work, 'state.json');
    const args = ['log', 'verify', logUrl, '--vkey', logVkey, '--witness', witnessVkey, '--state', state];
    const first = await runCli([...args, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const out = json(first.stdout);
    expect(out).toMatchObject({
      ok: true,
      origin: ORIGIN,
      size: 3,
      quorum: 1,
      maxAge: 300,
      previousSize: null,
      newEntries: 3,
    });
    // The witness cosigned this checkpoint moments ago (at most a heartbeat ago): well within the default age.
    expect(out.age).toBeGreaterThanOrEqual(0);
    expect(out.age).toBeLessThanOrEqual(300);
    expect((out.cosignatures as { name: string }[])[0]!.name).toBe('witness.cli.test');
    expect(out.tilesChecked).toBe(1);
    await append('delta');
    const second = await runCli(args);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^ok cli\.test\/log: size 4/);
    expect(second.stdout).toContain('consistent with the saved checkpoint of size 3');
  });

  it('exit 1 when the required witnesses did not cosign (COSIG_QUORUM)', async () => {
    const stranger = await runInProcess([
      'witness',
      'init',
      '--data',
      join(work, 'stranger'),
      '--name',
      'stranger.test',
    ]);
    const r = await runInProcess([
      'log',
      'verify',
      logUrl,
      '--vkey',
      logVkey,
      '--witness',
      stranger.stdout.trim(),
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(json(r.stdout)).toMatchObject({
      ok: false,
      failure: 'invalid_checkpoint',
      error: { code: 'COSIG_QUORUM' },
    });
  });

  it('exit 1 with verifiable evidence when the saved checkpoint is not a prefix of the log (split view)', async () => {
    // The log's own key signs a different history of size 2: what a split view looks like to this verifier.
    const key = parseSignerKey(readFileSync(join(work, 'log', 'log.key'), 'utf8').trim());
    const fake = CompactRange.empty();
    fake.append(leafHash(utf8Encode('alpha')));
    fake.append(leafHash(utf8Encode('not bravo')));
    const forged = signCheckpoint({ origin: ORIGIN, size: 2, rootHash: fake.root(), extensions: [] }, key);
    const state = join(work, 'forged-state.json');
    const saved = JSON.stringify({
      format: 'overt/log-verify-state@v1',
      logs: { [ORIGIN]: { checkpoint: forged, frontier: fake.hashes.map((h) => toBase64(h)) } },
    });
    writeFileSync(state, saved);
    const r = await runCli([
      'log',
      'verify',
      logUrl,
      '--vkey',
      logVkey,
      '--witness',
      witnessVkey,
      '--state',
      state,
      '--json',
    ]);
    expect(r.code).toBe(1);
    const out = json(r.stdout);
    expect(out).toMatchObject({ ok: false, failure: 'split_view', error: { code: 'SPLIT_VIEW' } });
    const evidence = decodeSplitViewEvidence(JSON.stringify(out.evidence));
    expect(verifySplitViewEvidence(evidence, ORIGIN, [parseVerifierKey(logVkey)])).toBe(
      'proven_inconsistent',
    );
    // A failed run never moves the saved state.
    expect(readFileSync(state, 'utf8')).toBe(saved);
  });

  it('exit 1 when the newest quorum cosignature is older than --max-age: a relay that keeps showing an old checkpoint (FRESH-1)', async () => {
    // The log's current checkpoint, as the witness cosigned it an hour ago (its own key, its own kind of line):
    // a valid, consistent view that is simply old. A relay in front of the real log serves it instead.
    const witnessKey = parseSignerKey(readFileSync(join(work, 'witness', 'witness.key'), 'utf8').trim());
    const current = parseNote(await (await fetch(`${logUrl}checkpoint`)).text());
    const logOnly = { ...current, signatures: current.signatures.filter((sig) => sig.name === ORIGIN) };
    const hourAgo = Math.floor(Date.now() / 1000) - 3600;
    const old = formatNote(addSignatures(logOnly, [cosign(current.text, witnessKey, hourAgo)]));
    const relay = createServer((req, res) => {
      if (req.url === '/checkpoint') {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(old);
        return;
      }
      void fetch(`${logUrl}${req.url!.slice(1)}`).then(async (r) => {
        res.writeHead(r.status).end(new Uint8Array(await r.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/`;
    try {
      const args = ['log', 'verify', relayUrl, '--vkey', logVkey, '--witness', witnessVkey, '--json'];
      const stale = await runInProcess(args);
      expect(stale.code).toBe(1);
      expect(json(stale.stdout)).toMatchObject({
        ok: false,
        failure: 'stale',
        error: { code: 'CHECKPOINT_STALE', check: 'FRESH-1' },
      });
      const human = await runInProcess(args.slice(0, -1));
      expect(human.stdout).toMatch(
        /FAILED cli\.test\/log: stale: .*last cosigned \d+ s ago, more than the 300 s allowed/,
      );
      // A generous --max-age accepts it, reporting the age; `off` skips the check.
      const lenient = json((await runInProcess([...args, '--max-age', '7200'])).stdout);
      expect(lenient).toMatchObject({ ok: true, maxAge: 7200 });
      expect(lenient.age).toBeGreaterThanOrEqual(3600);
      expect(json((await runInProcess([...args, '--max-age', 'off'])).stdout)).toMatchObject({
        ok: true,
        age: null,
        maxAge: null,
      });
    } finally {
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });

  it('exit 2 for usage errors: missing URL, bad vkey, quorum above the witnesses given, unreadable state', async () => {
    const cases = [
      ['log', 'verify', '--vkey', 'x'],
      ['log', 'verify', logUrl, '--vkey', 'not-a-vkey'],
      ['log', 'verify', logUrl, '--vkey', logVkey, '--witness', witnessVkey, '--quorum', '2'],
      ['log', 'verify', logUrl, '--vkey', logVkey, '--state', join(work, 'receipt0')],
      ['log', 'verify', logUrl, '--vkey', logVkey, '--bogus'],
      // No witness: refused unless asked for by name with --quorum 0; and with quorum 0 no witness timestamp
      // can show the view is current, so the age check must be turned off too.
      ['log', 'verify', logUrl, '--vkey', logVkey],
      ['log', 'verify', logUrl, '--vkey', logVkey, '--max-age', 'off'],
      ['log', 'verify', logUrl, '--vkey', logVkey, '--quorum', '0'],
      ['log', 'verify', logUrl, '--vkey', logVkey, '--witness', witnessVkey, '--max-age', '-1'],
    ];
    const results = await Promise.all(cases.map((c) => runInProcess(c)));
    for (const [i, r] of results.entries()) {
      expect(r.code, cases[i]!.join(' ')).toBe(2);
      expect(r.stderr).toContain("Run 'overt log verify --help'");
    }
    expect(results[5]!.stderr).toContain('no --witness given');
    // Asked for by name, the log alone is checked (signature, tree) and says what it did not check.
    const alone = await runInProcess([
      'log',
      'verify',
      logUrl,
      '--vkey',
      logVkey,
      '--quorum',
      '0',
      '--max-age',
      'off',
      '--json',
    ]);
    expect(alone.code, alone.stderr).toBe(0);
    expect(json(alone.stdout)).toMatchObject({ ok: true, quorum: 0 });
  });
});

describe('overt log check-proof', () => {
  it('exit 0 for the receipt the log returned; 1 for another entry or a damaged receipt; 2 without an entry', async () => {
    const base = ['log', 'check-proof', join(work, 'receipt1'), '--vkey', logVkey, '--witness', witnessVkey];
    const damaged = join(work, 'damaged');
    writeFileSync(damaged, readFileSync(join(work, 'receipt1'), 'utf8').replace('index 1', 'index 0'));
    const [ok, wrong, bad, usage] = await Promise.all([
      runCli([...base, '--entry', join(work, 'entry1'), '--json']),
      runInProcess([...base, '--entry', join(work, 'entry2')]),
      runInProcess([
        'log',
        'check-proof',
        damaged,
        '--vkey',
        logVkey,
        '--entry',
        join(work, 'entry1'),
        '--json',
      ]),
      runInProcess(base),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok.stdout)).toMatchObject({ ok: true, origin: ORIGIN, index: 1, quorum: 1 });
    expect(json(ok.stdout).leafHash).toBe(toBase64(leafHash(utf8Encode('bravo'))));
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^FAILED: PROOF_INVALID/);
    expect(bad.code).toBe(1);
    expect(json(bad.stdout)).toMatchObject({ ok: false, error: { code: 'PROOF_INVALID', check: 'PROOF-2' } });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--entry');
  });
});

describe('overt --help', () => {
  it('prints help with an example for every command, exit 0; a missing argument or no command is a usage error', async () => {
    const commands = [
      ['log', 'init'],
      ['log', 'serve'],
      ['log', 'verify'],
      ['log', 'check-proof'],
      ['witness', 'init'],
      ['witness', 'serve'],
    ];
    const [top, spawnedUsage, none, ...each] = await Promise.all([
      runCli(['--help']),
      runCli(['log', 'verify', '--vkey', logVkey]),
      runInProcess([]),
      ...commands.map((c) => runInProcess([...c, '--help'])),
    ]);
    expect(top.code).toBe(0);
    for (const c of commands) expect(top.stdout).toContain(c.join(' '));
    // The process's exit status is the command's: 2 for a usage error.
    expect(spawnedUsage.code).toBe(2);
    expect(spawnedUsage.stderr).toContain('expected URL');
    expect(none.code).toBe(2);
    for (const [i, r] of each.entries()) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Examples?:\n {2}overt /);
      expect(r.stdout).toContain('--json');
      expect(r.stdout.startsWith(`overt ${commands[i]!.join(' ')}`)).toBe(true);
    }
  });
});

describe('help examples', () => {
  it('every example parses with its command and names well-formed vkeys', () => {
    for (const cmd of [...logCommands, ...witnessCommands]) {
      for (const example of cmd.examples) {
        const argv = example
          .replace(/\\\n\s*/g, ' ')
          .trim()
          .split(/\s+/);
        expect(argv.slice(0, 3)).toEqual(['overt', ...cmd.path]);
        const { positionals } = parseCommandArgs(cmd, argv.slice(3));
        expect(positionals).toHaveLength(cmd.positionals.length);
        const vkeys = example.match(/[^\s=]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+/g) ?? [];
        for (const v of vkeys) expect(() => parseVerifierKey(v), v).not.toThrow();
      }
    }
  });
});
