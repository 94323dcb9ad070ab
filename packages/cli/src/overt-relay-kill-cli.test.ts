/**
 * "Never lose a message" through a relay killed with SIGKILL (client.md §4.3, durable receive), end to end as users
 * would meet it: the real system of `npm start` (scripts/start.mjs from the sources), alice sends a backlog to bob
 * while he is offline, bob's `overt read` runs, and the `npm start` process — the relay and the log — is killed with
 * SIGKILL once bob's profile shows that the read has begun storing messages. `npm start` is started again on the
 * same data directory (its stale lock is taken over, START-10) and port, and bob reads again: across both reads
 * every message is shown exactly once and none is REJECTED (an item processed again would fail as MLS_REPLAY).
 *
 * The kill is placed from a point the test controls (the first `event/…` record in bob's store, cli.md §3), not
 * after a delay; wherever in the read it lands — before the page came, while it is being processed, before or after
 * the ack — the same assertions hold, so the test asserts nothing about timing.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBase64Url, utf8Decode } from '@overt/core';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnChild, stopChild } from '../../../test/children.js';
import { ok } from '../test/npm-start.js';
import { type CliResult, runCli, runInProcess } from '../test/run-cli.js';
import { EXIT_OK, EXIT_UNAVAILABLE } from './command.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'overt-relay-kill-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** How many messages alice sends while bob is offline (more than a hundred, one catch-up page). */
const BACKLOG = 130;

interface System {
  readonly child: ChildProcess;
  /** The relay's URL, once `npm start` says everything is up. */
  readonly relay: Promise<string>;
  /** Everything it printed so far. */
  output(): string;
}

/** `npm start -- --data DIR --port PORT --witness-ports 0,0` in its own process group (test/children.ts). */
function npmStart(data: string, port: number): System {
  const child = spawnChild(
    process.execPath,
    ['scripts/start.mjs', '--port', String(port), '--witness-ports', '0,0', '--data', data],
    { cwd: root, env: { ...process.env, OVERT_START_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const relay = new Promise<string>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`npm start exited (${code ?? signal}):\n${out}`)));
    const collect = (d: unknown) => {
      out += String(d);
      if (!out.includes('Ctrl-C stops everything.')) return;
      const url = /relay\s+(http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve(url);
      else reject(new Error(`unexpected output:\n${out}`));
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
  });
  relay.catch(() => undefined); // Awaited by the test; an exit after start must not be an unhandled rejection.
  return { child, relay, output: () => out };
}

/** The unread events bob's store holds now: `s-<base64url(key)>` files whose key starts `event/` (client.md §3). */
function storedEvents(profile: string): number {
  let n = 0;
  let files: string[];
  try {
    files = readdirSync(join(profile, 'store'));
  } catch {
    return 0;
  }
  for (const f of files) {
    if (!f.startsWith('s-')) continue;
    try {
      if (utf8Decode(fromBase64Url(f.slice(2))).startsWith('event/')) n++;
    } catch {
      // Not a record name (a temporary file): not counted.
    }
  }
  return n;
}

/** The events a `read --json` printed: the `{ok:true, events}` line, also when an error line follows it. */
function shownEvents(r: CliResult): Record<string, unknown>[] {
  const events: Record<string, unknown>[] = [];
  for (const line of r.stdout.split('\n')) {
    if (line.trim() === '') continue;
    const j = JSON.parse(line) as { ok: boolean; events?: Record<string, unknown>[] };
    if (j.ok && j.events) events.push(...j.events);
  }
  return events;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('durable receive through a relay killed with SIGKILL (client.md §4.3)', () => {
  it('bob reads a backlog while npm start is kill -9ed and restarted: every message shown exactly once, none rejected', async () => {
    const data = join(tmp, 'data');
    const alice = join(tmp, 'alice');
    const bob = join(tmp, 'bob');
    const first = npmStart(data, 0);
    const relay = await first.relay;
    const port = Number(new URL(relay).port);

    for (const [user, profile] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      const device = `${user}-laptop`;
      const init = await ok([
        'device',
        'init',
        '--relay',
        relay,
        '--user',
        user,
        '--device',
        device,
        '--profile',
        profile,
      ]);
      const enrol = [...['admin', 'enrol', '--relay', relay, '--admin-key', join(data, 'admin.key')]];
      await ok([...enrol, '--user', user, '--device', device, '--device-key', init.deviceKey as string]);
    }
    // Bob's first command publishes his key packages; from then on he is offline.
    await ok(['chat', 'list', '--profile', bob]);
    const conv = (await ok(['chat', 'new', '--profile', alice, '--with', 'bob'])).conversation as string;
    const texts = Array.from({ length: BACKLOG }, (_, i) => `backlog message ${i}`);
    // In the test process (the same `main` as the binary): 130 process start-ups would only measure start-up.
    for (const t of texts) {
      const sent = await runInProcess(['send', '--profile', alice, '--to', conv, t]);
      expect(sent.code, sent.stderr).toBe(EXIT_OK);
    }

    // Bob reads; once his store holds the first event of the backlog, the relay and the log die with SIGKILL.
    const reading = runCli(['read', '--profile', bob, '--json']);
    let readDone = false;
    void reading.then(() => {
      readDone = true;
    });
    while (storedEvents(bob) === 0 && !readDone) await sleep(2);
    const eventsAtKill = storedEvents(bob);
    first.child.kill('SIGKILL');
    const firstRead = await reading;
    // Its witnesses stop when their parent's channel closes; whatever of its process group is left is stopped.
    await stopChild(first.child);
    expect(first.child.signalCode).toBe('SIGKILL');

    // Observed: the read stores the page's items one by one, then fails at the ack with "cannot reach the relay"
    // (exit 4) after printing what it stored; if the kill lands after the ack, it exits 0 with everything.
    const shownFirst = shownEvents(firstRead);
    expect(
      [EXIT_OK, EXIT_UNAVAILABLE],
      `${eventsAtKill} events stored at the kill\n${firstRead.stderr}`,
    ).toContain(firstRead.code);
    if (firstRead.code === EXIT_UNAVAILABLE) expect(firstRead.stderr).toContain('cannot reach the relay');

    // The same data directory and port: the dead process's lock is taken over (START-10).
    const second = npmStart(data, port);
    expect(await second.relay).toBe(relay);
    expect(second.output()).toContain(
      `stale lock of the data directory (process ${first.child.pid} is gone)`,
    );
    try {
      const secondRead = await runCli(['read', '--profile', bob, '--json']);
      expect(secondRead.code, secondRead.stderr).toBe(EXIT_OK);
      const all = [...shownFirst, ...shownEvents(secondRead)];
      expect(all.filter((e) => e.event === 'rejected')).toEqual([]);
      expect(all.filter((e) => e.event === 'joined')).toHaveLength(1);
      // Every message exactly once, in the order sent.
      expect(all.filter((e) => e.event === 'message').map((e) => e.text)).toEqual(texts);
      expect(all).toHaveLength(BACKLOG + 1);
      // Nothing is left to show, and the conversation goes on after the restart.
      expect(shownEvents(await runCli(['read', '--profile', bob, '--json']))).toEqual([]);
      await ok(['send', '--profile', alice, '--to', conv, 'after the restart']);
      const after = shownEvents(await runCli(['read', '--profile', bob, '--json']));
      expect(after.map((e) => [e.event, e.text])).toEqual([['message', 'after the restart']]);
    } finally {
      await stopChild(second.child, { leader: true, graceMs: 10_000 });
    }
  }, 300_000);
});
