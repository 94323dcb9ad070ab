/**
 * `overt demo` (docs/spec/demo.md): tells the access story against a live system — a running `overt up
 * --demo-users` (`--server`), or a temporary one it starts and stops — checking every step (demo/story.ts), then
 * attempts the attacks A1–A16 of DESIGN §6 (demo/attacks.ts, through the contract of demo/attack-types.ts). Prints
 * numbered steps as they finish, or with `--json` exactly one JSON object at the end.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isClientError } from '@overt/client';
import { isOvertError } from '@overt/core';
import type { RunningSystem } from '@overt/up';
import {
  type Command,
  type CommandContext,
  EXIT_FAILED,
  EXIT_OK,
  intOption,
  optionalString,
  UsageError,
} from './command.js';
import { ATTACK_IDS, type AttackResult } from './demo/attack-types.js';
import { DemoCheckFailed, runStory, type StoryResult } from './demo/story.js';
import { DEMO_USERS, demoDataDir, demoProfile } from './passphrase.js';
import { fetchWellKnownDoc } from './profile.js';
import { newDirectory } from './request-commands.js';
import { type Org, orgFromWellKnown } from './requester.js';
import { paintFor } from './tty.js';

/** Exit status of a run stopped by SIGINT or SIGTERM (128 + SIGINT), after the temporary system is stopped. */
export const EXIT_INTERRUPTED = 130;
const DEFAULT_SEAL_SECONDS = 25;

interface Failure {
  readonly check: string;
  readonly message: string;
}

/** `--server URL`: an http(s) URL, without trailing slashes. @throws UsageError. */
function serverOption(ctx: CommandContext): string | undefined {
  const server = optionalString(ctx, 'server');
  if (server === undefined) return undefined;
  try {
    const u = new URL(server);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new UsageError(`--server ${JSON.stringify(server)} is not a URL (e.g. http://127.0.0.1:8420)`);
  }
  return server.replace(/\/+$/, '');
}

/**
 * The data directory of the `overt up --demo-users` at `server`: the demo users (ready, and enrolled at that
 * relay), the requester key, the trustee daemons' APIs. @throws UsageError naming what is missing.
 */
function checkDataDir(data: string, server: string): void {
  const start = `start the system with \`overt up --demo-users --data ${data}\`, or give its --data`;
  for (const user of DEMO_USERS) {
    if (!existsSync(join(data, 'demo', `${user}.ready`)))
      throw new UsageError(`${data} has no demo user ${user}: ${start}`);
    let relay: unknown;
    try {
      relay = (
        JSON.parse(readFileSync(join(demoProfile(data, user).dir, 'profile.json'), 'utf8')) as {
          relay?: unknown;
        }
      ).relay;
    } catch {
      throw new UsageError(`${demoProfile(data, user).dir} holds no readable profile: ${start}`);
    }
    if (typeof relay !== 'string' || relay.replace(/\/+$/, '') !== server)
      throw new UsageError(
        `the demo users in ${data} belong to the relay at ${String(relay)}, not --server ${server}: give that system's --data`,
      );
  }
  if (!existsSync(join(data, 'requester', 'secret.key')))
    throw new UsageError(`${data} has no requester key (requester/secret.key): ${start}`);
  for (const i of [1, 2, 3])
    if (!existsSync(join(data, 'trustees', `trustee-${i}`, 'api.url')))
      throw new UsageError(
        `trustee ${i} of ${data} is not running (no trustees/trustee-${i}/api.url): ${start}`,
      );
}

/** The message of an error the story or the attacks ended with (no key, share or plaintext is ever in one). */
function reason(e: unknown, io: CommandContext['io']): string {
  if (isClientError(e) || isOvertError(e)) {
    const relayCode = isClientError(e) ? e.relayCode : undefined;
    return `${e.message} [${e.code}${relayCode ? ` ${relayCode}` : ''}${e.check ? ` ${e.check}` : ''}]`;
  }
  if (e instanceof Error && ['UsageError', 'UnavailableError', 'StandaloneError'].includes(e.name))
    return e.message;
  // Anything else is a bug in us: say so, with its stack on stderr.
  io.stderr(
    `overt demo: unexpected error (a bug): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  return `unexpected error (a bug): ${e instanceof Error ? e.message : String(e)}`;
}

const demo: Command = {
  path: ['demo', ''],
  summary: 'tell the access story against a live system, checking every step, then attempt attacks A1–A16',
  positionals: [],
  options: {
    server: {
      type: 'string',
      value: 'URL',
      description: 'a running `overt up --demo-users` (default: start a temporary one, stop it at the end)',
    },
    data: {
      type: 'string',
      value: 'DIR',
      description: "with --server: that system's data directory (default $OVERT_DATA, else ./data)",
    },
    seal: {
      type: 'string',
      value: 'SECONDS',
      description: `how long the warrant stays sealed before its subject is told (default ${DEFAULT_SEAL_SECONDS}; 5..3600)`,
    },
    evidence: {
      type: 'string',
      value: 'DIR',
      description:
        'write the evidence bundle here (new or empty; default a new directory in the OS temp dir)',
    },
    'no-attacks': { type: 'boolean', description: 'tell the story only; attempt no attack' },
  },
  details:
    'alice, bob and carol chat (a group, one to one, a file); a requester files a warrant for alice over one day;\n' +
    'trustee 3 denies it and trustees 1 and 2 approve; the relay executes it on the witnessed log; the requester\n' +
    'opens exactly the envelopes in scope and writes a verified evidence bundle; the seal runs out and the relay\n' +
    "unseals it; alice's own client shows her the notice; the public statistics count it. Every number is\n" +
    'measured on the live system and checked (docs/spec/demo.md). Then each attack of DESIGN §6 is attempted the\n' +
    'way its attacker would and shown failing. --json prints one object: {ok, log, story, attacks, failures}.\n' +
    'Exit 1 when a check fails or an attack is not stopped; 130 when interrupted (the temporary system is stopped).',
  examples: [
    'overt demo',
    'overt demo --server http://127.0.0.1:8420 --data ./data',
    'overt demo --server http://127.0.0.1:8420 --no-attacks --json',
  ],
  async run(ctx) {
    const io = ctx.io;
    const sealSeconds = intOption(ctx, 'seal', 5, 3600) ?? DEFAULT_SEAL_SECONDS;
    const attacks = ctx.values['no-attacks'] !== true;
    let server = serverOption(ctx);
    if (server === undefined && optionalString(ctx, 'data') !== undefined)
      throw new UsageError('--data names the data directory of --server: give both, or neither');
    const evidenceOption = optionalString(ctx, 'evidence');
    // Checked (and made) before anything starts: a bundle must not fail to be written at the end.
    const evidenceDir = evidenceOption === undefined ? undefined : newDirectory('evidence', evidenceOption);
    let data = server === undefined ? '' : resolve(optionalString(ctx, 'data') ?? demoDataDir(ctx));
    // Unreachable, or not an Overt relay: exit 4 with one line (UnavailableError), before anything else.
    let doc = server === undefined ? undefined : await fetchWellKnownDoc(server);
    if (server !== undefined) checkDataDir(data, server);

    const paint = paintFor(ctx);
    const out = (line: string) => {
      if (!ctx.json) io.stdout(`${line}\n`);
    };
    const failures: Failure[] = [];
    const story: StoryResult = {
      requestId: null,
      messagesSent: 0,
      inScope: 0,
      opened: 0,
      outOfScopeOpened: 0,
      evidenceVerified: false,
      evidenceDir: null,
      notified: [],
      logSize: 0,
      stage: 'DEMO-1',
    };
    const results: AttackResult[] = [];
    let org: Org | undefined;
    let system: RunningSystem | undefined;
    let tmp: string | undefined;
    let interrupted = false;

    const work = async () => {
      if (server === undefined) {
        out(
          paint.dim('Starting a temporary system (relay, log, 2 witnesses, 3 trustee daemons; about 30 s)…'),
        );
        tmp = mkdtempSync(join(tmpdir(), 'overt-demo-'));
        data = join(tmp, 'data');
        const [{ startSystem }, { ensureDemoUsers }] = await Promise.all([
          import('@overt/up'),
          import('./up-commands.js'),
        ]);
        try {
          system = await startSystem({ dataDir: data, port: 0, witnessPorts: [0, 0], unsealPollMs: 1000 });
          await ensureDemoUsers(system, io);
          server = system.url;
          doc = await fetchWellKnownDoc(server);
        } catch (e) {
          // Nothing to tell a story on: the failure is the run's only result.
          if (!interrupted)
            failures.push({
              check: 'DEMO-1',
              message: `the temporary system did not start: ${reason(e, io)}`,
            });
          return;
        }
      }
      org = orgFromWellKnown(doc, `${server}/.well-known/overt`, 'relay');
      out(paint.bold(`Overt demo against ${server} (org ${org.orgId})`));
      try {
        await runStory(
          {
            relay: server!,
            dataDir: data,
            org,
            sealSeconds,
            ...(evidenceDir !== undefined ? { evidenceDir } : {}),
            io,
            step: (n, line, detail) => {
              out(`${String(n).padStart(2)}. ${line}`);
              if (detail !== undefined) out(`    ${paint.dim(detail)}`);
            },
          },
          story,
        );
      } catch (e) {
        if (interrupted) return;
        failures.push(
          e instanceof DemoCheckFailed
            ? { check: e.check, message: e.message }
            : { check: story.stage, message: reason(e, io) },
        );
        out(paint.bad(`    stopped: ${failures.at(-1)!.message} [${failures.at(-1)!.check}]`));
      }
      if (!attacks || interrupted) return;
      out(paint.bold('Attacks of DESIGN §6, each attempted against the live system:'));
      try {
        const { runAttacks } = await import('./demo/attacks.js');
        const got = await runAttacks({
          relayUrl: server!,
          dataDir: data,
          onResult: (r) => {
            const outcome = r.outcome === 'not-stopped' ? paint.bad('NOT STOPPED') : paint.ok(r.outcome);
            out(`  ${r.id.padEnd(4)}${outcome.padEnd(r.outcome === 'not-stopped' ? 11 : 9)} ${r.attempt}`);
            out(`      ${paint.dim(r.seen)}`);
          },
        });
        results.push(...got);
      } catch (e) {
        if (!interrupted)
          failures.push({ check: 'DEMO-10', message: `the attacks failed to run: ${reason(e, io)}` });
      }
      const missing = ATTACK_IDS.filter((id) => results.filter((x) => x.id === id).length !== 1);
      if (missing.length > 0)
        failures.push({ check: 'DEMO-10', message: `not reported exactly once: ${missing.join(', ')}` });
      for (const r of results)
        if (r.outcome === 'not-stopped')
          failures.push({ check: 'DEMO-10', message: `attack ${r.id} was not stopped: ${r.seen}` });
    };

    const stop = io.stopped.then(() => {
      interrupted = true;
    });
    const running = work();
    // A run cut short keeps failing in the background as the system stops under it: that is not reported.
    running.catch(() => undefined);
    try {
      await Promise.race([running, stop]);
    } finally {
      if (system !== undefined) {
        out(paint.dim('Stopping the temporary system…'));
        await system.close();
      }
      if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
    }
    if (interrupted) {
      io.stderr('overt demo: interrupted\n');
      return EXIT_INTERRUPTED;
    }

    const ok = failures.length === 0;
    if (ctx.json) {
      const log = org?.anchors.log;
      io.stdout(
        `${JSON.stringify({
          ok,
          log: {
            url: log?.url ?? null,
            vkey: log?.vkey ?? null,
            witness_vkeys: log?.witnessVkeys ?? [],
            witness_quorum: log?.witnessQuorum ?? 0,
            size: story.logSize,
          },
          story: {
            request_id: story.requestId,
            messages_sent: story.messagesSent,
            in_scope: story.inScope,
            opened: story.opened,
            out_of_scope_opened: story.outOfScopeOpened,
            evidence_verified: story.evidenceVerified,
            evidence_dir: story.evidenceDir,
            notified: story.notified,
          },
          attacks: Object.fromEntries(results.map((r) => [r.id, r.outcome])),
          attacks_seen: Object.fromEntries(results.map((r) => [r.id, r.seen])),
          failures,
        })}\n`,
      );
    } else if (ok) {
      out(paint.ok(attacks ? 'All checks passed; every attack failed.' : 'All checks passed.'));
      if (tmp === undefined) {
        const env = data === resolve('data') ? '' : `OVERT_DATA=${data} `;
        out(
          paint.dim(
            `Try: ${env}npx overt notices --as alice    npx overt evidence verify ${story.evidenceDir}`,
          ),
        );
      }
    } else {
      for (const f of failures) out(paint.bad(`FAILED ${f.check}: ${f.message}`));
    }
    return ok ? EXIT_OK : EXIT_FAILED;
  },
};

export const demoCommands: readonly Command[] = [demo];
