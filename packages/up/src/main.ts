/**
 * `npm start` (scripts/start.mjs calls {@link main}): parses `--port`, `--data`, `--host`, `--org`,
 * `--witness-ports`, `--log-level` (or OVERT_LOG_LEVEL; request lines as JSON on stdout), starts the
 * whole system (system.ts), prints what runs where — URLs, public keys, directories, never a secret — and stops
 * everything on SIGINT or SIGTERM.
 */
import { parseArgs } from 'node:util';
import { toBase64 } from '@overt/core';
import { epochLabel, isLogLevel, jsonRequestLog, LOG_LEVELS } from '@overt/server';
import { TRUSTEE_THRESHOLD } from './policy.js';
import { DEFAULT_PORT, type RunningSystem, startSystem, TRUSTEE_COUNT } from './system.js';

const USAGE = `usage: npm start -- [--port N] [--data DIR] [--host HOST] [--org ID] [--witness-ports A,B] [--log-level L]
  --port N           the relay's port (default ${DEFAULT_PORT}; 0 picks a free one); witnesses use N+1 and N+2
  --data DIR         data directory (default ./data), reused on every start
  --host HOST        interface to listen on (default 127.0.0.1)
  --org ID           the organisation id of a new data directory (default overt.localhost)
  --witness-ports A,B  the witnesses' ports (0 picks free ones)
  --log-level L      request log lines (JSON, stdout): debug|info|warn|error|silent (default $OVERT_LOG_LEVEL, else
                     warn on a terminal, info otherwise); warn keeps only refused requests, error only the relay's failures
`;

function port(text: string, what: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535)
    throw new Error(`${what} must be a port number`);
  return Number(text);
}

/** The lines printed once everything runs. */
export function describe(s: RunningSystem): string[] {
  const lines = [
    `Overt is running. Data directory: ${s.dataDir}`,
    `  relay        ${s.url}`,
    `  dashboard    ${s.url}/  (the public transparency dashboard: the log verified in your browser)`,
    `  well-known   ${s.url}/.well-known/overt`,
    `  log          ${s.wellKnown.log.url}  (origin ${s.wellKnown.log.origin}, ${s.logSize} entries)`,
    `               vkey ${s.wellKnown.log.vkey}`,
  ];
  for (const [i, w] of s.witnesses.entries()) {
    lines.push(`  witness ${i + 1}    ${w.url}  (process ${w.pid})`);
    lines.push(`               vkey ${w.vkey}`);
  }
  lines.push(
    `  witnessed    ${s.witnessed ? `yes, quorum ${s.wellKnown.log.witness_quorum}` : 'not yet (the witnesses are retried)'}`,
  );
  lines.push(
    `  trustees     ${TRUSTEE_COUNT} trustee daemons (child processes), threshold ${TRUSTEE_THRESHOLD}, under ${s.dataDir}/trustees (one machine, vault keys beside them: not independent)`,
    ...s.trustees.map(
      (t) => `  trustee ${t.index}    ${t.url} (operator API, token in ${t.dataDir}/api.token), pid ${t.pid}`,
    ),
  );
  lines.push(
    `  policy       serial ${s.policy.record.serial}, ${s.policy.status}, log index ${s.policy.record.logIndex}; epoch keys are signed by the trustees`,
  );
  for (const e of s.epochs) {
    lines.push(
      `  epoch ${e.epoch}    ${epochLabel(e.epoch)}, ${e.status}, log index ${e.record.logIndex}, group key ${toBase64(e.record.groupKey)}`,
    );
  }
  lines.push(
    `  admin key    ${s.adminKeyPath}${s.adminKeyCreated ? ' (new)' : ''} — secret; signs the policy and enrolments`,
    'Ctrl-C stops everything.',
  );
  return lines;
}

/** What a caller of {@link main} may add once everything runs (the CLI's `overt up --demo-users`). */
export interface MainHooks {
  /**
   * Runs after the start, before the summary is printed; returns lines printed after it (what to try next). A
   * throw stops the system and fails the start (exit 1) with its message.
   */
  readonly afterStart?: (system: RunningSystem) => Promise<readonly string[]>;
}

/** What to try first against a running system, without demo users (`overt up --demo-users` adds its own). */
export function nextSteps(s: RunningSystem): string[] {
  return [
    'Next:',
    `  npx overt up --demo-users      alice, bob and carol, enrolled, under ${s.dataDir}/demo`,
    `  curl ${s.url}/.well-known/overt`,
  ];
}

/** Runs until SIGINT or SIGTERM; resolves with the process exit code. */
export async function main(argv: readonly string[], hooks: MainHooks = {}): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        port: { type: 'string' },
        data: { type: 'string' },
        host: { type: 'string' },
        org: { type: 'string' },
        'witness-ports': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    process.stderr.write(`overt: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let options: Parameters<typeof startSystem>[0];
  try {
    const witnessPorts =
      typeof values['witness-ports'] === 'string'
        ? values['witness-ports'].split(',').map((p) => port(p, '--witness-ports'))
        : undefined;
    if (witnessPorts !== undefined && witnessPorts.length !== 2)
      throw new Error('--witness-ports takes two ports');
    const level =
      typeof values['log-level'] === 'string'
        ? values['log-level']
        : process.env.OVERT_LOG_LEVEL || undefined;
    if (level !== undefined && !isLogLevel(level))
      throw new Error(`--log-level (or OVERT_LOG_LEVEL) must be one of ${LOG_LEVELS.join(', ')}`);
    options = {
      dataDir: typeof values.data === 'string' ? values.data : 'data',
      port: typeof values.port === 'string' ? port(values.port, '--port') : DEFAULT_PORT,
      ...(typeof values.host === 'string' ? { host: values.host } : {}),
      ...(typeof values.org === 'string' ? { org: values.org } : {}),
      ...(witnessPorts ? { witnessPorts } : {}),
      // On a terminal only refusals, so the start block and the user's own commands stay readable (three trustee
      // daemons poll the relay several times a second); piped to a collector, every request.
      requestLog: jsonRequestLog(level ?? (process.stdout.isTTY ? 'warn' : 'info')),
    };
  } catch (e) {
    process.stderr.write(`overt: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return 2;
  }

  // Signals that arrive during start-up stop the system as soon as it is up (or abort the wait for it).
  let stopRequested: (() => void) | undefined;
  const stopSignal = new Promise<void>((r) => {
    stopRequested = r;
  });
  const onSignal = () => stopRequested?.();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const startedAt = performance.now();
  let system: RunningSystem;
  try {
    system = await startSystem(options);
  } catch (e) {
    process.stderr.write(`overt: could not start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return 1;
  }
  if (system.staleLockFrom !== undefined)
    process.stdout.write(
      `Took over a stale lock of the data directory (process ${system.staleLockFrom} is gone).\n`,
    );
  let after: readonly string[];
  try {
    after = hooks.afterStart === undefined ? nextSteps(system) : await hooks.afterStart(system);
  } catch (e) {
    process.stderr.write(`overt: could not start: ${e instanceof Error ? e.message : String(e)}\n`);
    await system.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return 1;
  }
  process.stdout.write(`${[...describe(system), ...after].join('\n')}\n`);
  process.stdout.write(`Started in ${Math.round(performance.now() - startedAt)} ms.\n`);
  await stopSignal;
  process.stdout.write('Stopping…\n');
  await system.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.stdout.write('Stopped.\n');
  return 0;
}
