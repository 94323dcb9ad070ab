/**
 * The witness daemon: a data directory (key file and SQLite state) plus the HTTP server, started and stopped
 * as one. This is what `overt witness serve` and the embedded default (`npm start`) run.
 */
import { type RunningWitnessServer, serveWitness } from './http.js';
import { loadOrCreateWitnessKey } from './keys.js';
import { SqliteWitnessStore } from './store.js';
import { Witness, type WitnessEvent, type WitnessedLog } from './witness.js';

export interface WitnessDaemonOptions {
  /** Holds `witness.key` (mode 0600) and `witness.db`; created with mode 0700 if missing. */
  readonly dataDir: string;
  /** Cosigner name for a key generated on first start; must match the stored key's name afterwards. */
  readonly name?: string;
  readonly logs: readonly WitnessedLog[];
  readonly host?: string;
  readonly port?: number;
  readonly prefix?: string;
  readonly clock?: () => number;
  readonly onEvent?: (event: WitnessEvent) => void;
}

export interface RunningWitness {
  readonly witness: Witness;
  /** The witness's vkey, for log clients' witness policies. */
  readonly vkey: string;
  /** The submission URL (`http://host:port<prefix>`). */
  readonly url: string;
  /** True when this start generated the key. */
  readonly keyCreated: boolean;
  close(): Promise<void>;
}

/** Opens the data directory and starts serving. @throws WitnessError WITNESS_CONFIG. */
export async function startWitnessDaemon(options: WitnessDaemonOptions): Promise<RunningWitness> {
  const { key, created } = loadOrCreateWitnessKey(options.dataDir, options.name);
  const store = SqliteWitnessStore.openDir(options.dataDir);
  let server: RunningWitnessServer;
  let witness: Witness;
  try {
    witness = new Witness({
      key,
      logs: options.logs,
      store,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    server = await serveWitness(witness, {
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
    });
  } catch (e) {
    store.close();
    throw e;
  }
  return {
    witness,
    vkey: witness.vkey,
    url: server.url,
    keyCreated: created,
    close: async () => {
      await server.close();
      store.close();
    },
  };
}
