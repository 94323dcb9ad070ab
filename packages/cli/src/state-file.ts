/**
 * The state file of `overt log verify --state FILE`: per log origin, the latest checkpoint the verifier accepted
 * and the tree's frontier at that size (a @overt/log MonitorSnapshot), so the next run can prove the log only
 * grew since. JSON, written atomically (temporary file, fsync, rename), and only once every check of a run has
 * passed: a failed verification never moves the saved state.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { fromBase64, toBase64 } from '@overt/core';
import type { MonitorSnapshot, MonitorStore } from '@overt/log';

const FORMAT = 'overt/log-verify-state@v1';

interface FileShape {
  format: string;
  logs: Record<string, { checkpoint: string; frontier: string[] }>;
}

/** A state file that cannot be read as ours: the operator must look at it, not have it silently replaced. */
export class StateFileError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'StateFileError';
  }
}

function read(path: string): FileShape {
  if (!existsSync(path)) return { format: FORMAT, logs: {} };
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new StateFileError(`state file ${path} is not JSON`, { cause: e });
  }
  const o = v as FileShape;
  if (
    typeof o !== 'object' ||
    o === null ||
    o.format !== FORMAT ||
    typeof o.logs !== 'object' ||
    o.logs === null
  )
    throw new StateFileError(`state file ${path} is not an ${FORMAT} file`);
  return o;
}

/**
 * A MonitorStore over a state file whose saves are held back until {@link commit}, so that checks done after
 * the monitor (the full tile recomputation) can still veto the new state.
 */
export class StateFile implements MonitorStore {
  readonly #path: string | undefined;
  readonly #data: FileShape;
  #pending: { origin: string; snapshot: MonitorSnapshot } | undefined;

  /** `path` undefined: in memory only (a run with no --state). @throws StateFileError. */
  constructor(path: string | undefined) {
    this.#path = path;
    this.#data = path === undefined ? { format: FORMAT, logs: {} } : read(path);
  }

  async load(origin: string): Promise<MonitorSnapshot | undefined> {
    const entry = Object.hasOwn(this.#data.logs, origin) ? this.#data.logs[origin] : undefined;
    if (entry === undefined) return undefined;
    if (typeof entry.checkpoint !== 'string' || !Array.isArray(entry.frontier))
      throw new StateFileError(`state for ${origin} is malformed`);
    try {
      return { checkpoint: entry.checkpoint, frontier: entry.frontier.map((h) => fromBase64(h)) };
    } catch (e) {
      throw new StateFileError(`state for ${origin} is malformed`, { cause: e });
    }
  }

  async save(origin: string, snapshot: MonitorSnapshot): Promise<void> {
    this.#pending = { origin, snapshot };
  }

  /** The checkpoint saved by a previous run for `origin`, if any (its signed note). */
  previous(origin: string): string | undefined {
    return Object.hasOwn(this.#data.logs, origin) ? this.#data.logs[origin]?.checkpoint : undefined;
  }

  /** Writes the held-back save, if any, atomically. */
  commit(): void {
    if (this.#pending === undefined || this.#path === undefined) return;
    const { origin, snapshot } = this.#pending;
    this.#data.logs[origin] = {
      checkpoint: snapshot.checkpoint,
      frontier: snapshot.frontier.map((h) => toBase64(h)),
    };
    const tmp = `${this.#path}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, `${JSON.stringify(this.#data, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.#path);
    this.#pending = undefined;
  }
}
