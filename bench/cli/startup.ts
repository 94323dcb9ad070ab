/**
 * Start-up of the `overt` command (issue #9): time to first output, and to exit, of `overt --help`, `overt send`
 * and `overt read` as a person runs them, against a same-run baseline (`node -e ''`, a bare Node start-up).
 * Three launch paths are measured: the bundle (packages/cli/dist/bundle/, what `npx overt` runs once `npm run
 * build` is current; the bench builds and bundles first), the unbundled compiled code (packages/cli/dist/run.js,
 * run directly) and the TypeScript sources through tsx (OVERT_CLI_SOURCE=1, what most CLI tests run).
 *
 * Profiles are unlocked with OVERT_PROFILE_KEY (no Argon2id: that cost is the passphrase's, by design, and is
 * reported separately as `unlockArgon2idMs` from one run with a passphrase). The relay is `npm start`'s real
 * system on free ports with a temporary data directory, stopped at the end.
 *
 * Run: `npx tsx bench/cli/startup.ts [--quick]` or `npm run bench -- cli/startup`. Prints one JSON document.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(root, 'packages/cli/bin/overt.js');
const quick = process.argv.includes('--quick');
const RUNS = quick ? 5 : 15;
const KEY = randomBytes(32).toString('hex');

interface Timing {
  readonly firstOutputMs: number;
  readonly exitMs: number;
  readonly code: number | null;
  readonly stdout: string;
}

/** Spawns `node args…` and times its first byte on stdout or stderr and its exit. */
function timed(args: readonly string[], env: Record<string, string> = {}): Promise<Timing> {
  const t0 = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
  const child = spawn(process.execPath, args, {
    env: { ...process.env, OVERT_PROFILE_KEY: KEY, OVERT_PASSPHRASE: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let first: number | undefined;
  let stdout = '';
  const mark = () => {
    first ??= ms();
  };
  child.stdout.on('data', (d) => {
    mark();
    stdout += String(d);
  });
  child.stderr.on('data', mark);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const exit = ms();
      resolve({ firstOutputMs: first ?? exit, exitMs: exit, code, stdout });
    });
  });
}

/** The unbundled compiled CLI, run directly (what bin/overt.js runs when the bundle is missing or stale). */
const DIST = join(root, 'packages/cli/dist/run.js');

async function overt(args: readonly string[], env: Record<string, string> = {}): Promise<Timing> {
  const r = await timed([env.OVERT_BENCH_ENTRY ?? BIN, ...args], env);
  if (r.code !== 0) throw new Error(`overt ${args.join(' ')} exited ${r.code}: ${r.stdout}`);
  return r;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 10) / 10;
};

async function series(
  run: () => Promise<Timing>,
): Promise<{ firstOutputMs: number; exitMs: number; firstOutputSamplesMs: number[] }> {
  const firsts: number[] = [];
  const exits: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = await run();
    firsts.push(t.firstOutputMs);
    exits.push(t.exitMs);
  }
  // Every run's first output too: the spread bench/suite reports around the median.
  return {
    firstOutputMs: median(firsts),
    exitMs: median(exits),
    firstOutputSamplesMs: firsts.map((x) => Math.round(x * 10) / 10),
  };
}

function startSystem(data: string): Promise<{ relay: string; system: ChildProcess }> {
  const system = spawn(process.execPath, ['scripts/start.mjs', '--port', '0', '--data', data], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  return new Promise((resolve, reject) => {
    system.once('exit', (code) => reject(new Error(`npm start exited ${code}: ${out}`)));
    system.stderr?.on('data', (d) => {
      out += String(d);
    });
    system.stdout?.on('data', (d) => {
      out += String(d);
      if (!out.includes('Ctrl-C stops everything.')) return;
      const relay = /relay\s+(http:\/\/\S+)/.exec(out)?.[1];
      if (relay) resolve({ relay, system });
    });
  });
}

async function main(): Promise<void> {
  // The build the launcher runs when it is current (start.mjs builds too; once here so nothing is timed stale).
  const build = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--build'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) throw new Error('build failed');
  // npm run build's second step, the CLI bundle (scripts/bundle-cli.mjs) that bin/overt.js prefers when current.
  const bundle = spawnSync(process.execPath, [join(root, 'scripts/bundle-cli.mjs')], { stdio: 'inherit' });
  if (bundle.status !== 0) throw new Error('bundling the CLI failed');
  const tmp = mkdtempSync(join(tmpdir(), 'overt-bench-cli-'));
  const { relay, system } = await startSystem(join(tmp, 'data'));
  try {
    const adminKey = join(tmp, 'data', 'admin.key');
    const profile = (u: string) => join(tmp, u);
    for (const u of ['ann', 'ben']) {
      const init = JSON.parse(
        (
          await overt([
            'device',
            'init',
            '--relay',
            relay,
            '--user',
            u,
            '--device',
            `${u}-pc`,
            '--profile',
            profile(u),
            '--json',
          ])
        ).stdout,
      );
      await overt([
        'admin',
        'enrol',
        '--relay',
        relay,
        '--admin-key',
        adminKey,
        '--user',
        u,
        '--device',
        `${u}-pc`,
        '--device-key',
        init.deviceKey,
      ]);
      await overt(['chat', 'list', '--profile', profile(u)]);
    }
    const conv = JSON.parse(
      (await overt(['chat', 'new', '--profile', profile('ann'), '--with', 'ben', '--json'])).stdout,
    ).conversation as string;

    const baseline = await series(() => timed(['-e', '']));
    const modes: Record<string, Record<string, Awaited<ReturnType<typeof series>>>> = {};
    for (const [mode, env] of [
      ['bundle', {}],
      ['dist (unbundled)', { OVERT_BENCH_ENTRY: DIST }],
      ['source (tsx)', { OVERT_CLI_SOURCE: '1' }],
    ] as const) {
      modes[mode] = {
        help: await series(() => overt(['--help'], env)),
        send: await series(() => overt(['send', '--profile', profile('ann'), '--to', conv, 'bench'], env)),
        read: await series(() => overt(['read', '--profile', profile('ben')], env)),
      };
    }
    // One unlock with a passphrase instead of the raw key: Argon2id's share of a command.
    const withKey = await overt(['history', '--profile', profile('ben')]);
    await overt(['device', 'passphrase', '--profile', profile('ben')], {
      OVERT_NEW_PASSPHRASE: 'bench passphrase',
    });
    const withPass = await overt(['history', '--profile', profile('ben')], {
      OVERT_PROFILE_KEY: '',
      OVERT_PASSPHRASE: 'bench passphrase',
    });
    const ratio = (x: number) => Math.round((x / baseline.firstOutputMs) * 10) / 10;
    console.log(
      JSON.stringify(
        {
          runs: RUNS,
          baselineNodeStartMs: baseline.firstOutputMs,
          baselineNodeStartSamplesMs: baseline.firstOutputSamplesMs,
          modes: Object.fromEntries(
            Object.entries(modes).map(([m, cmds]) => [
              m,
              Object.fromEntries(
                Object.entries(cmds).map(([c, t]) => [
                  c,
                  { ...t, firstOutputVsBaseline: ratio(t.firstOutputMs) },
                ]),
              ),
            ]),
          ),
          unlockArgon2idMs: Math.round(withPass.exitMs - withKey.exitMs),
        },
        null,
        2,
      ),
    );
  } finally {
    try {
      process.kill(-system.pid!, 'SIGTERM');
    } catch {
      // Already gone.
    }
    await new Promise((r) => setTimeout(r, 1000));
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
