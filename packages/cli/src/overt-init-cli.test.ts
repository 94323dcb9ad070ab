/**
 * A real deployment as its parties would run it (docs/spec/start.md §4.4; issue #12): every command a spawned
 * `overt` process on real ports. Three trustees run `overt trustee init` on "their machines" (own directories, own
 * vault keys), two witnesses `overt witness init`; the operator runs `overt init` for a custom organisation (2 of 3,
 * witness quorum 1 of 2, a requester made there, custom limits and retention, the admin key sealed under a
 * passphrase); then `overt witness serve` ×2, `overt relay serve`, `overt trustee serve` ×3. The trustees make the
 * epoch keys, every `/healthz` answers, a device is enrolled with the sealed admin key and a message sent and read;
 * SIGTERM stops each service with exit 0 and frees its port; no service's log holds a key, token or user id
 * (SVC-1..SVC-3, INIT-1..INIT-3). Bad arguments and an unreachable relay are one clear line and a non-zero exit.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnChild, stopChild } from '../../../test/children.js';
import { ok } from '../test/npm-start.js';
import { cliEnv, type Daemon, runCli, runInProcess, startDaemon } from '../test/run-cli.js';

const BIN = fileURLToPath(new URL('../bin/overt.js', import.meta.url));

const tmp = mkdtempSync(join(tmpdir(), 'overt-init-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ORG = 'init-test.example';
// User ids unlikely to occur by chance inside a base64 key that a service prints.
const ALICE = 'alice-init-test';
const BOB = 'bob-init-test';
const ADMIN_PASSPHRASE = 'correct horse battery staple';
const vaultKey = (i: number) => `${String(i).repeat(2)}${'ab'.repeat(31)}`;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The secret part of a signer key file (`PRIVATE+KEY+<name>+<id>+<base64>`; the base64 may hold '+'). */
function secretOf(path: string): string {
  const secret = readFileSync(path, 'utf8').trim().split('+').slice(4).join('+');
  if (secret.length < 40) throw new Error(`${path} is not a signer key file`);
  return secret;
}

async function health(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url.replace(/\/+$/, '')}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Polls `f` every 250 ms until it returns true; fails with `what` after `timeoutMs`. */
async function until(what: string, f: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await f().catch(() => false)) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('overt init and the services on their own', () => {
  it('sets up a custom organisation; relay, witnesses and trustees run, make the epoch keys, serve a message and stop cleanly', async () => {
    const daemons: Daemon[] = [];
    try {
      // 1. Each trustee on its own machine.
      const trustees = await Promise.all(
        [1, 2, 3].map((i) =>
          ok(['trustee', 'init', '--data', join(tmp, `trustee-${i}`), '--index', String(i)], {
            OVERT_TRUSTEE_VAULT_KEY: vaultKey(i),
          }),
        ),
      );
      // 2. Each witness.
      const witnessKeys = await Promise.all(
        [1, 2].map((i) =>
          ok(['witness', 'init', '--data', join(tmp, `witness-${i}`), '--name', `w${i}.init-test.example`]),
        ),
      );
      const witnessPorts = [await freePort(), await freePort()];
      // 3. The operator: a custom organisation from flags.
      const passFile = join(tmp, 'admin.pass');
      writeFileSync(passFile, `${ADMIN_PASSPHRASE}\n`, { mode: 0o600 });
      const relayDir = join(tmp, 'relay');
      const names = ['Counsel', 'Ombudsman', 'Data protection officer'];
      const init = await ok([
        'init',
        '--data',
        relayDir,
        '--org',
        ORG,
        ...trustees.flatMap((t, i) => ['--trustee', `${t.index}:${t.signingKey}:${t.hpkeKey}:${names[i]}`]),
        '--threshold',
        '2',
        ...witnessKeys.flatMap((w, i) => ['--witness', `http://127.0.0.1:${witnessPorts[i]}=${w.vkey}`]),
        '--witness-quorum',
        '1',
        '--new-requester',
        'police:City police',
        '--max-subjects',
        '3',
        '--max-window-days',
        '30',
        '--max-seal-days',
        '90',
        '--max-extensions',
        '1',
        '--retention-days',
        '400',
        '--admin-passphrase-file',
        passFile,
      ]);
      expect(init).toMatchObject({
        ok: true,
        org: ORG,
        origin: `${ORG}/log`,
        adminKeyCreated: true,
        policy: {
          trustees: names.map((name, i) => ({ index: i + 1, name })),
          threshold: 2,
          witnesses: ['w1.init-test.example', 'w2.init-test.example'],
          witnessQuorum: 1,
          requesters: ['police'],
          limits: {
            maxSubjects: 3,
            maxWindowMs: 30 * 86_400_000,
            maxSealMs: 90 * 86_400_000,
            maxExtensions: 1,
          },
          retentionMs: 400 * 86_400_000,
        },
      });
      const adminKeyFile = init.adminKey as string;
      const adminText = readFileSync(adminKeyFile, 'utf8');
      // Sealed: neither the signer key line nor anything that parses as one is in the file.
      expect(adminText).not.toContain('PRIVATE+KEY');
      expect(JSON.parse(adminText).format).toBe('overt/admin-key@v1');
      // INIT-1: the same directory again is refused, nothing changed.
      const again = await runInProcess(['init', '--data', relayDir, '--org', ORG]);
      expect(again.code).toBe(2);
      expect(again.stderr.split('\n')[0]).toBe(
        `overt init: ${relayDir} is already initialised (overt.json); run \`overt relay serve --data ${relayDir}\`, or init another --data [INIT-1]`,
      );

      // 4. Witnesses, 5. the relay, 6. the trustees.
      for (const [i, port] of witnessPorts.entries())
        daemons.push(
          startDaemon([
            'witness',
            'serve',
            '--data',
            join(tmp, `witness-${i + 1}`),
            '--port',
            String(port),
            '--log',
            `${init.origin}=${init.logVkey}`,
            '--json',
          ]),
        );
      await Promise.all(daemons.map((d) => d.waitFor((e) => e.event === 'listening')));
      const relayPort = await freePort();
      // On SQLite under --data, whatever the environment says: with DATABASE_URL (CI) the relay would share the
      // default schema with other runs. PostgreSQL is relay-node.test.ts's, each run in a schema of its own.
      const relayD = startDaemon(
        ['relay', 'serve', '--data', relayDir, '--port', String(relayPort), '--json'],
        { DATABASE_URL: undefined },
      );
      daemons.push(relayD);
      const up = await relayD.waitFor((e) => e.event === 'listening', 60_000);
      expect(up).toMatchObject({ org: ORG, policy: { status: 'published', serial: 1, logIndex: 0 } });
      const relay = up.url as string;
      const trusteeDs = [1, 2, 3].map((i) =>
        startDaemon(['trustee', 'serve', '--data', join(tmp, `trustee-${i}`), '--relay', relay, '--json'], {
          OVERT_TRUSTEE_VAULT_KEY: vaultKey(i),
        }),
      );
      daemons.push(...trusteeDs);
      const trusteeUrls = (
        await Promise.all(trusteeDs.map((d) => d.waitFor((e) => e.event === 'listening', 60_000)))
      ).map((e) => e.url as string);

      // 7. The trustees make this month's and next month's keys; the relay's health says so.
      await until('the epoch keys', async () => {
        const h = await health(relay);
        const keys = h.body.epochKeys as { current: boolean; next: boolean };
        return h.status === 200 && keys.current && keys.next && h.body.witnessed === true;
      });
      expect((await health(relay)).body).toMatchObject({
        ok: true,
        service: 'relay',
        store: true,
        policy: 1,
      });
      for (const port of witnessPorts)
        expect(await health(`http://127.0.0.1:${port}`)).toEqual({
          status: 200,
          body: { ok: true, service: 'witness' },
        });
      for (const url of trusteeUrls)
        expect((await health(url)).body).toMatchObject({ ok: true, service: 'trustee', policy: true });

      // 8. A device enrolled with the sealed admin key, and a message sent and read.
      const enrol = async (user: string) => {
        const profile = join(tmp, `profile-${user}`);
        const device = await ok([
          'device',
          'init',
          '--relay',
          relay,
          '--user',
          user,
          '--device',
          `${user}-1`,
          '--profile',
          profile,
        ]);
        await ok([
          'admin',
          'enrol',
          '--relay',
          relay,
          '--admin-key',
          adminKeyFile,
          '--admin-passphrase-file',
          passFile,
          '--user',
          user,
          '--device',
          `${user}-1`,
          '--device-key',
          device.deviceKey as string,
        ]);
        await ok(['chat', 'list', '--profile', profile]);
        return profile;
      };
      const alice = await enrol(ALICE);
      const bob = await enrol(BOB);
      // A wrong admin passphrase is exit 3 and one line.
      const wrongPass = join(tmp, 'wrong.pass');
      writeFileSync(wrongPass, 'not the passphrase\n', { mode: 0o600 });
      const wrong = await runCli([
        'admin',
        'enrol',
        '--relay',
        relay,
        '--admin-key',
        adminKeyFile,
        '--admin-passphrase-file',
        wrongPass,
        '--user',
        'carol',
        '--device',
        'carol-1',
        '--device-key',
        'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      ]);
      expect(wrong.code).toBe(3);
      expect(wrong.stderr.trim().split('\n')).toEqual([
        `overt admin enrol: the passphrase does not open the admin key ${adminKeyFile}`,
      ]);
      const sent = await ok(['send', '--profile', alice, '--to', BOB, 'hello from a real deployment']);
      const read = (await ok(['read', '--profile', bob])).events as Record<string, unknown>[];
      expect(read.at(-1)).toMatchObject({ text: 'hello from a real deployment', messageId: sent.messageId });

      // 9. SIGTERM stops each service cleanly, and frees its port.
      const ports = [...witnessPorts, relayPort, ...trusteeUrls.map((u) => Number(new URL(u).port))];
      const results = await Promise.all(daemons.splice(0).map((d) => d.stop()));
      for (const r of results) expect(r.code).toBe(0);
      for (const port of ports) expect(await listening(port)).toBe(false);

      // SVC-1: every service logged JSON lines (pino) on stderr, and none of them holds a secret or a user id.
      const secrets = [
        ADMIN_PASSPHRASE,
        ...[1, 2, 3].map(vaultKey),
        ...[1, 2, 3].map((i) => readFileSync(join(tmp, `trustee-${i}`, 'api.token'), 'utf8').trim()),
        secretOf(join(relayDir, 'log', 'log.key')),
        ...[1, 2].map((i) => secretOf(join(tmp, `witness-${i}`, 'witness.key'))),
        secretOf(join(relayDir, 'relay', 'access.key')),
        secretOf(join(relayDir, 'relay', 'franking.key')),
        ALICE,
        BOB,
        'hello from a real deployment',
      ];
      const services = ['witness', 'witness', 'relay', 'trustee', 'trustee', 'trustee'];
      for (const [i, r] of results.entries()) {
        const lines = r.stderr.trim().split('\n');
        for (const line of lines) expect(JSON.parse(line)).toMatchObject({ service: services[i] });
        expect(lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
        for (const s of secrets) expect(r.stderr + r.stdout).not.toContain(s);
      }
      expect(results[2]!.stderr).toContain('"msg":"request"');
    } finally {
      await Promise.all(daemons.map((d) => d.stop()));
    }
  }, 300_000);

  it('bad arguments, a directory init did not make and an unreachable relay each give one clear line', async () => {
    const line = (r: { stderr: string }) => r.stderr.trim().split('\n')[0];
    const noOrg = await runInProcess(['init', '--data', join(tmp, 'x')]);
    expect(noOrg.code).toBe(2);
    expect(line(noOrg)).toBe('overt init: --org is required');
    const badTrustee = await runInProcess([
      'init',
      '--data',
      join(tmp, 'x'),
      '--org',
      ORG,
      '--trustee',
      '1:zz:yy',
    ]);
    expect(badTrustee.code).toBe(2);
    expect(line(badTrustee)).toBe('overt init: --trustee: the signing key is not base64');
    const k = `${'A'.repeat(43)}=`;
    const tooMany = await runInProcess([
      'init',
      '--data',
      join(tmp, 'x'),
      '--org',
      ORG,
      '--trustee',
      `1:${k}:${k}`,
      '--threshold',
      '2',
    ]);
    expect(tooMany.code).toBe(2);
    expect(line(tooMany)).toBe('overt init: --threshold 2 is more than the 1 trustees');
    const badPort = await runInProcess(['relay', 'serve', '--data', tmp, '--port', '70000']);
    expect(badPort.code).toBe(2);
    expect(line(badPort)).toBe('overt relay serve: --port must be an integer from 0 to 65535');
    // INIT-2: a directory `overt init` did not make, before anything is opened or locked.
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    const notInit = await runCli(['relay', 'serve', '--data', empty, '--port', '0']);
    expect(notInit.code).toBe(1);
    expect(notInit.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^overt relay serve: could not start: INIT_CONFIG \[INIT-2\]: .* is not a relay data directory made by `overt init`/,
      ),
    ]);
    // An unreachable relay: one line, exit 4.
    const closed = await freePort();
    const unreachable = await runCli(
      [
        'trustee',
        'serve',
        '--data',
        join(tmp, 'lonely'),
        '--index',
        '1',
        '--relay',
        `http://127.0.0.1:${closed}`,
      ],
      { OVERT_TRUSTEE_VAULT_KEY: vaultKey(9) },
    );
    expect(unreachable.code).toBe(4);
    expect(unreachable.stderr.trim().split('\n')).toEqual([
      `overt trustee serve: cannot reach the relay at http://127.0.0.1:${closed}: ECONNREFUSED`,
    ]);
  }, 60_000);

  it('overt log serve answers /healthz, logs JSON lines and stops on SIGTERM with exit 0, its port freed', async () => {
    const log = startDaemon([
      'log',
      'serve',
      '--data',
      join(tmp, 'log-alone'),
      '--port',
      '0',
      '--origin',
      'log.init-test.example',
      '--json',
    ]);
    try {
      const up = await log.waitFor((e) => e.event === 'listening');
      const base = new URL(up.url as string);
      expect(await health(base.origin)).toEqual({ status: 200, body: { ok: true, service: 'log', size: 0 } });
      const r = await log.stop();
      expect(r.code).toBe(0);
      expect(await listening(Number(base.port))).toBe(false);
      const lines = r.stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const l of lines) expect(l.service).toBe('log');
      expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['listening', 'stopped']));
      const key = secretOf(join(tmp, 'log-alone', 'log.key'));
      expect(r.stderr + r.stdout).not.toContain(key);
    } finally {
      await log.stop();
    }
  }, 60_000);

  it('on a terminal: asks each choice (a refused answer again) and the admin passphrase twice; two that differ are refused', async () => {
    const k = (await ok(['trustee', 'init', '--data', join(tmp, 'tty-trustee'), '--index', '1'], {
      OVERT_TRUSTEE_VAULT_KEY: vaultKey(7),
    })) as { signingKey: string; hpkeKey: string };
    const w = await ok(['witness', 'init', '--data', join(tmp, 'tty-witness'), '--name', 'w.tty.example']);
    const args = (dir: string) => [
      'init',
      '--data',
      join(tmp, dir),
      '--org',
      'tty.example',
      '--trustee',
      `1:${k.signingKey}:${k.hpkeKey}`,
      '--witness',
      `http://127.0.0.1:9=${w.vkey}`,
      '--new-requester',
      'audit',
      '--json',
    ];
    const prompts: string[] = [];
    const answers = ['first passphrase', 'second passphrase'];
    const differ = await runInProcess(args('tty-a'), { OVERT_ADMIN_PASSPHRASE: undefined }, async (p) => {
      prompts.push(p);
      return answers.shift()!;
    });
    expect(differ.code).toBe(2);
    expect(prompts).toEqual(['Passphrase for the new admin key: ', 'Repeat it: ']);
    expect(differ.stderr.split('\n')[0]).toBe('overt init: the two passphrases differ');
    const same = await runInProcess(
      args('tty-b'),
      { OVERT_ADMIN_PASSPHRASE: undefined },
      async () => 'a good passphrase',
    );
    expect(same.code).toBe(0);
    const out = JSON.parse(same.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({
      ok: true,
      adminKeyCreated: true,
      policy: { threshold: 1, witnessQuorum: 1 },
    });
    // The questions of `overt init` on a terminal without --org: a refused answer is asked again.
    const asked: string[] = [];
    const replies = [
      'bad+org',
      'tty.example',
      join(tmp, 'tty-wizard'),
      '1:nope',
      `1:${k.signingKey}:${k.hpkeKey}:Counsel`,
      '',
      '',
      `http://127.0.0.1:9=${w.vkey}`,
      '',
      '1',
      'new:audit:Internal audit',
      '',
      '5',
      '',
      '',
      '',
      '0',
      '',
    ];
    const wizard = await runInProcess(
      ['init', '--json'],
      { OVERT_ADMIN_PASSPHRASE: 'a good passphrase' },
      undefined,
      async (p) => {
        asked.push(p);
        if (replies.length === 0) throw new Error('cancelled');
        return replies.shift()!;
      },
    );
    expect(wizard.stderr).toContain('  1 to 64 printable ASCII characters without "+"');
    expect(wizard.stderr).toContain('  --trustee takes INDEX:SIGNKEY:HPKEKEY[:NAME]');
    expect(asked[0]).toBe('Organisation id (e.g. example.org): ');
    expect(asked).toContain('Trustees needed (k of 1) [1]: ');
    expect(wizard.code).toBe(0);
    expect(JSON.parse(wizard.stdout)).toMatchObject({
      ok: true,
      org: 'tty.example',
      policy: {
        trustees: [{ index: 1, name: 'Counsel' }],
        threshold: 1,
        witnessQuorum: 1,
        requesters: ['audit'],
        limits: { maxSubjects: 5, maxExtensions: 0 },
        retentionMs: 730 * 86_400_000,
      },
    });
    // The same on a real terminal: `script` gives the command a pseudo-terminal; the answers (typed ahead, as a
    // paste would) are read one per question, and the passphrase is not echoed.
    if (existsSync('/usr/bin/script')) {
      const pty = spawnChild('/usr/bin/script', ['-qfec', `${process.execPath} ${BIN} init`, '/dev/null'], {
        env: cliEnv({ OVERT_CLI_SOURCE: '1', NO_COLOR: '1' }),
        stdio: 'pipe',
      }) as ChildProcessWithoutNullStreams;
      let screen = '';
      pty.stdout.setEncoding('utf8').on('data', (d: string) => {
        screen += d;
      });
      const typed = [
        'pty.example',
        join(tmp, 'tty-pty'),
        `1:${k.signingKey}:${k.hpkeKey}:Counsel`,
        '',
        '',
        `http://127.0.0.1:9=${w.vkey}`,
        '',
        '',
        'new:audit',
        '',
        ...Array(6).fill(''),
        'typed passphrase 42',
        'typed passphrase 42',
      ];
      pty.stdin.end(`${typed.join('\r')}\r`);
      const exit = await new Promise<number | null>((r) => pty.on('close', r));
      await stopChild(pty);
      expect(exit, screen).toBe(0);
      expect(screen).toContain('Organisation id (e.g. example.org): pty.example');
      expect(screen).toContain('Passphrase for the new admin key: ');
      expect(screen).toContain(`Organisation pty.example set up in ${join(tmp, 'tty-pty')}`);
      // The terminal itself echoes what was typed ahead, before any prompt; after its prompt nothing is echoed.
      const prompted = screen.slice(screen.indexOf('Passphrase for the new admin key: '));
      expect(prompted.split('\n')[0]).toBe('Passphrase for the new admin key: \r');
      expect(JSON.parse(readFileSync(join(tmp, 'tty-pty', 'admin.key'), 'utf8')).format).toBe(
        'overt/admin-key@v1',
      );
    }
    // No terminal and no passphrase: exit 3, one line saying how to give one; nothing written.
    const none = await runInProcess(args('tty-c'), { OVERT_ADMIN_PASSPHRASE: undefined });
    expect(none.code).toBe(3);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    expect(() => readFileSync(join(tmp, 'tty-c', 'overt.json'))).toThrow();
  }, 120_000);
});
