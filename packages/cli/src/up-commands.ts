/**
 * `overt up`: the all-in-one start (`npm start` runs this command): the relay with its log, two witnesses and
 * three trustee daemons as separate processes on SQLite under ./data (docs/spec/start.md). `--demo-users` also
 * makes alice, bob and carol (cli.md §12): device profiles under `<data>/demo`, each with a passphrase file beside
 * it, enrolled with the org admin key and with key packages published, so that `overt send --as alice --to bob
 * 'hi'` works at once. They are made by running this CLI's own `device init`, `admin enrol` and `chat list`, so a
 * demo user is exactly what a person following the README would have made.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { RunningSystem } from '@overt/up';
import { type Command, type Io, intOption, optionalString } from './command.js';
import { DEMO_USERS, demoProfile } from './passphrase.js';

const OPTIONS = ['port', 'data', 'host', 'org', 'witness-ports', 'log-level'] as const;

/** Runs one `overt` command in this process; its JSON answer, or a thrown error with its stderr. */
async function overt(argv: readonly string[], io: Io): Promise<Record<string, unknown>> {
  const { main } = await import('./main.js');
  let out = '';
  let err = '';
  const code = await main([...argv, '--json'], {
    stdout: (t) => {
      out += t;
    },
    stderr: (t) => {
      err += t;
    },
    stopped: io.stopped,
    env: {},
  });
  if (code !== 0) throw new Error(`overt ${argv.slice(0, 2).join(' ')} failed: ${err.trim() || out.trim()}`);
  return JSON.parse(out) as Record<string, unknown>;
}

/**
 * Makes the demo users that are not there yet (a user is there once its `.ready` file is): profile, passphrase
 * file (random, mode 0600), enrolment, key packages. A user left half made by an interrupted start is made again
 * with a new device id. Returns what to print.
 */
export async function ensureDemoUsers(system: RunningSystem, io: Io): Promise<string[]> {
  const demo = join(system.dataDir, 'demo');
  mkdirSync(demo, { recursive: true, mode: 0o700 });
  const made: string[] = [];
  for (const user of DEMO_USERS) {
    const { dir, passphraseFile } = demoProfile(system.dataDir, user);
    const ready = join(demo, `${user}.ready`);
    if (existsSync(ready)) continue;
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(passphraseFile, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
    const device = `${user}-demo-${randomBytes(3).toString('hex')}`;
    const profile = ['--profile', dir, '--passphrase-file', passphraseFile];
    const init = await overt(
      ['device', 'init', '--relay', system.url, '--user', user, '--device', device, ...profile],
      io,
    );
    await overt(
      [
        'admin',
        'enrol',
        '--relay',
        system.url,
        '--admin-key',
        system.adminKeyPath,
        '--user',
        user,
        '--device',
        device,
        '--device-key',
        String(init.deviceKey),
      ],
      io,
    );
    // Opening the profile once publishes its key packages, so others can start a conversation with it.
    await overt(['chat', 'list', ...profile], io);
    writeFileSync(ready, `${device}\n`, { mode: 0o600 });
    made.push(user);
  }
  const rel = relative(process.cwd(), system.dataDir);
  const data = rel === '' ? '.' : rel.startsWith('..') ? system.dataDir : rel;
  const env = rel === 'data' ? '' : `OVERT_DATA=${system.dataDir} `;
  return [
    `Demo users   ${DEMO_USERS.join(', ')} under ${system.dataDir}/demo${made.length > 0 ? ` (new: ${made.join(', ')})` : ''}; their passphrases are the .passphrase files there (a demo: whoever reads ${data} reads their profiles)`,
    'Try:',
    `  ${env}npx overt send --as alice --to bob 'hi'`,
    `  ${env}npx overt read --as bob`,
    `  ${env}npx overt chat new --as alice --with bob,carol --name 'Q4 plans'`,
    `  ${env}npx overt demo --server ${system.url}    the access story, then attacks A1–A16, against this system`,
  ];
}

const up: Command = {
  path: ['up', ''],
  summary: 'start the whole system on this machine: relay, log, two witnesses, three trustee daemons',
  positionals: [],
  options: {
    port: {
      type: 'string',
      value: 'N',
      description: "the relay's port (default 8420; 0 picks a free one); witnesses use N+1 and N+2",
    },
    data: {
      type: 'string',
      value: 'DIR',
      description: 'data directory (default ./data), reused on every start',
    },
    host: { type: 'string', value: 'HOST', description: 'interface to listen on (default 127.0.0.1)' },
    org: {
      type: 'string',
      value: 'ID',
      description: 'the organisation id of a new data directory (default overt.localhost)',
    },
    'witness-ports': {
      type: 'string',
      value: 'A,B',
      description: "the witnesses' ports (0 picks free ones)",
    },
    'log-level': {
      type: 'string',
      value: 'L',
      description:
        'request log lines (JSON, stdout): debug|info|warn|error|silent (default info; warn when stdout is a terminal)',
    },
    'demo-users': {
      type: 'boolean',
      description:
        'also make alice, bob and carol (profiles under DIR/demo, enrolled): overt send --as alice …',
    },
  },
  details:
    'Prints where everything runs (URLs, the log and witness keys, the admin key file) and what to try next, and\n' +
    'stops everything on SIGINT or SIGTERM. A second start reuses the data directory and loses nothing.\n' +
    '`npm start` runs this command (`npm start -- --demo-users`).',
  examples: ['overt up', 'overt up --demo-users', 'overt up --port 9420 --data ./data-test'],
  async run(ctx) {
    // Checked here too, so a mistake is one line on this command's stderr before anything starts.
    intOption(ctx, 'port', 0, 65535);
    const argv: string[] = [];
    for (const name of OPTIONS) {
      const v = optionalString(ctx, name);
      if (v !== undefined) argv.push(`--${name}`, v);
    }
    // Loaded only here: the relay, the log service and the process supervisor are large.
    const { main } = await import('@overt/up');
    return main(
      argv,
      ctx.values['demo-users'] === true ? { afterStart: (s) => ensureDemoUsers(s, ctx.io) } : {},
    );
  },
};

export const upCommands: readonly Command[] = [up];
