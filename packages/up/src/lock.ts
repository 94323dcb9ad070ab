/**
 * The data directory's lock (docs/spec/start.md §1, START-10): one `npm start` per data directory. A second one
 * on a directory in use would open the same SQLite files and the same witness state, serve, and then fail every
 * write (the first holds the write lock) — so it refuses at once, naming the process that holds the directory.
 *
 * `<data>/overt.lock` holds the decimal pid of the holder and a newline. It is created exclusively (O_EXCL), so of
 * two starts racing for it exactly one wins. A lock whose pid is not a running process is stale (a crash, a
 * SIGKILL): it is removed and taken over, and the caller is told so. The lock is released on a clean stop, only if
 * it still holds this process's pid.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StandaloneError } from './errors.js';

export const LOCK_FILE = 'overt.lock';

export interface DataDirLock {
  readonly path: string;
  /** The pid of a dead holder whose stale lock was taken over, if any. */
  readonly staleFrom: number | undefined;
  release(): void;
}

/** Whether `pid` names a running process (EPERM: it runs under another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

function readPid(path: string): number | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^[1-9][0-9]{0,9}$/.test(text) ? Number(text) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of `dataDir` for this process. Throws START_LOCKED (START-10) when another running process
 * holds it (this process counts as another holder: one system per directory per process too).
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  let staleFrom: number | undefined;
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST' || attempt > 0) {
        throw new StandaloneError('START_LOCKED', `cannot take the lock ${path}`, {
          check: 'START-10',
          cause: e,
        });
      }
      const holder = readPid(path);
      if (holder !== undefined && running(holder))
        throw new StandaloneError(
          'START_LOCKED',
          `the data directory ${dataDir} is in use by process ${holder} (lock file ${path}); stop that one ` +
            'first, or start with another --data',
          { check: 'START-10' },
        );
      // Its holder is gone (or the file is not a lock we wrote): stale. Take it over.
      staleFrom = holder;
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      path,
      staleFrom,
      release() {
        if (released) return;
        released = true;
        if (readPid(path) === process.pid) rmSync(path, { force: true });
      },
    };
  }
}
