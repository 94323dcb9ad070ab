/**
 * `overt witness …`: run a C2SP tlog-witness (docs/spec/witness.md).
 *
 *   overt witness init  --data DIR [--name NAME]                  create the key, print the vkey
 *   overt witness serve --data DIR --port N --log ORIGIN=VKEY …   serve add-checkpoint
 */
import { formatVerifierKey, isLogError, parseVerifierKey, type VerifierKey, verifierKeyOf } from '@overt/log';
import {
  isWitnessError,
  loadOrCreateWitnessKey,
  startWitnessDaemon,
  type WitnessedLog,
} from '@overt/witness';
import {
  type Command,
  type CommandContext,
  EXIT_FAILED,
  EXIT_OK,
  emit,
  intOption,
  optionalString,
  requireString,
  splitPair,
  stringList,
  UsageError,
} from './command.js';
import { logLevel, serviceLogger } from './service-log.js';

function isVkey(text: string): boolean {
  try {
    parseVerifierKey(text);
    return true;
  } catch {
    return false;
  }
}

/** `ORIGIN=VKEY` pairs → the logs a witness follows. @throws UsageError. */
export function parseLogPairs(pairs: readonly string[]): WitnessedLog[] {
  const byOrigin = new Map<string, VerifierKey[]>();
  for (const pair of pairs) {
    const [origin, vkey] = splitPair('log', pair, isVkey);
    const key = parseVerifierKey(vkey);
    if (key.type !== 0x01)
      throw new UsageError(`--log ${origin}: the log key must be an Ed25519 (type 0x01) vkey`);
    byOrigin.set(origin, [...(byOrigin.get(origin) ?? []), key]);
  }
  return [...byOrigin].map(([origin, keys]) => ({ origin, keys }));
}

/** Reports a configuration failure of the witness (bad data directory, key file, port in use). */
function configFailure(ctx: CommandContext, e: unknown): number {
  const message = e instanceof Error ? e.message : String(e);
  const code = isWitnessError(e) || isLogError(e) ? e.code : 'STARTUP';
  emit(ctx, { ok: false, error: { kind: 'config', code, message } }, `overt: ${message}`);
  if (!ctx.json) ctx.io.stderr(`overt: ${message}\n`);
  return EXIT_FAILED;
}

const init: Command = {
  path: ['witness', 'init'],
  summary: 'create the witness key in a data directory (if missing) and print its vkey',
  positionals: [],
  options: {
    data: { type: 'string', value: 'DIR', description: 'data directory (created with mode 0700)' },
    name: {
      type: 'string',
      value: 'NAME',
      description: 'cosigner name for a new key, e.g. witness.example.org/w1',
    },
  },
  details:
    'The key is kept in DIR/witness.key (mode 0600), the C2SP signed-note signer key format with type 0x04.\n' +
    "Give the printed vkey to the logs' operators and to verifiers (their --witness option).",
  examples: ['overt witness init --data ./data/witness1 --name witness1.example.org'],
  async run(ctx) {
    const dir = requireString(ctx, 'data');
    let loaded: ReturnType<typeof loadOrCreateWitnessKey>;
    try {
      loaded = loadOrCreateWitnessKey(dir, optionalString(ctx, 'name'));
    } catch (e) {
      if (isWitnessError(e)) return configFailure(ctx, e);
      throw e;
    }
    const vkey = formatVerifierKey(verifierKeyOf(loaded.key));
    emit(ctx, { ok: true, name: loaded.key.name, vkey, created: loaded.created }, vkey);
    return EXIT_OK;
  },
};

const serve: Command = {
  path: ['witness', 'serve'],
  summary: 'run a witness: check and cosign checkpoints submitted by the configured logs',
  positionals: [],
  options: {
    data: {
      type: 'string',
      value: 'DIR',
      description: 'data directory: witness.key (made on first start), witness.db',
    },
    port: { type: 'string', value: 'N', description: 'TCP port; 0 picks a free one (printed)' },
    log: {
      type: 'string',
      multiple: true,
      value: 'ORIGIN=VKEY',
      description: 'a log to witness and its key',
    },
    name: { type: 'string', value: 'NAME', description: 'cosigner name for a key made on first start' },
    host: { type: 'string', value: 'HOST', description: 'interface to listen on (default 127.0.0.1)' },
    prefix: { type: 'string', value: 'PATH', description: 'submission prefix, e.g. /witness (default none)' },
  },
  details:
    'Serves POST <prefix>/add-checkpoint (C2SP tlog-witness) and GET /healthz. Prints the URL and the vkey at\n' +
    'start; logs one JSON line (pino) per request on stderr (status, origin, sizes, refusal code; level from\n' +
    '$OVERT_LOG_LEVEL, default info). Stops cleanly on SIGINT or SIGTERM (exit 0).',
  examples: [
    'overt witness serve --data ./data/witness1 --port 7380 \\\n' +
      '    --log log.example.org=log.example.org+ecf125ce+AQdwNLquGzXysulsmPm+Cuz2AE19qDL/O9dnsarFXKJ9',
  ],
  async run(ctx) {
    const dataDir = requireString(ctx, 'data');
    const port = intOption(ctx, 'port', 0, 65535);
    if (port === undefined) throw new UsageError('--port is required');
    const logs = parseLogPairs(stringList(ctx, 'log'));
    if (logs.length === 0) throw new UsageError('give at least one --log ORIGIN=VKEY');
    const name = optionalString(ctx, 'name');
    const host = optionalString(ctx, 'host');
    const prefix = optionalString(ctx, 'prefix');
    const log = serviceLogger('witness', logLevel(ctx));
    let running: Awaited<ReturnType<typeof startWitnessDaemon>>;
    try {
      running = await startWitnessDaemon({
        dataDir,
        logs,
        port,
        ...(name !== undefined ? { name } : {}),
        ...(host !== undefined ? { host } : {}),
        ...(prefix !== undefined ? { prefix } : {}),
        // One structured line per request on stderr (pino, SVC-1): status, origin, sizes, refusal code.
        onEvent: (e) => (e.status < 400 ? log.info(e, 'request') : log.warn(e, 'request')),
      });
    } catch (e) {
      return configFailure(ctx, e);
    }
    const origins = logs.map((l) => l.origin);
    emit(
      ctx,
      {
        event: 'listening',
        url: running.url,
        vkey: running.vkey,
        keyCreated: running.keyCreated,
        logs: origins,
      },
      `witness listening on ${running.url}\nvkey ${running.vkey}${running.keyCreated ? ' (new key)' : ''}\n` +
        `witnessing ${origins.join(', ')}`,
    );
    log.info({ url: running.url, vkey: running.vkey, logs: origins }, 'listening');
    await ctx.io.stopped;
    await running.close();
    log.info('stopped');
    emit(ctx, { event: 'stopped' }, 'witness stopped');
    return EXIT_OK;
  },
};

export const witnessCommands: readonly Command[] = [init, serve];
