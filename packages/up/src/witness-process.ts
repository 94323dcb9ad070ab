/**
 * Entry point of one witness child of the all-in-one start (docs/spec/start.md §1): a separate process with its
 * own key and data directory, running @overt/witness's daemon. It reports `{type: 'listening', url, vkey}` (or
 * `{type: 'error', code, message}`) to its parent over the IPC channel, and stops when told to (SIGINT, SIGTERM)
 * or when the parent goes away (the channel disconnects), so a parent that dies never leaves it behind.
 *
 * argv[2] is a JSON object {dataDir, name, port, host, origin, logVkey}.
 */
import { parseVerifierKey } from '@overt/log';
import { startWitnessDaemon } from '@overt/witness';

interface ChildConfig {
  readonly dataDir: string;
  readonly name: string;
  readonly port: number;
  readonly host: string;
  readonly origin: string;
  readonly logVkey: string;
}

function send(message: object): void {
  if (process.send) process.send(message);
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
try {
  const running = await startWitnessDaemon({
    dataDir: config.dataDir,
    name: config.name,
    port: config.port,
    host: config.host,
    logs: [{ origin: config.origin, keys: [parseVerifierKey(config.logVkey)] }],
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  send({ type: 'listening', url: running.url, vkey: running.vkey, pid: process.pid });
} catch (e) {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'STARTUP';
  send({ type: 'error', code, message: e instanceof Error ? e.message : String(e) });
  process.exit(1);
}
