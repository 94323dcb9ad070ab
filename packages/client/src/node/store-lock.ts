/**
 * One writer per store directory (docs/spec/client.md §4.8, cli.md §3.3): a lock file holding the holder's pid,
 * taken around each client operation, so two processes on one profile (`overt watch` and `overt send` in two
 * terminals) never write the same MLS state from stale copies — the second would overwrite the ratchet state the
 * first advanced, and every message the first sent after it would be a replay to its recipients (MLS-9).
 *
 * The approach of `npm start`'s data-directory lock (server standalone/lock.ts, START-10): `DIR/overt.lock` holds
 * the decimal pid and a newline and is created exclusively (O_EXCL), so of two processes racing exactly one wins;
 * a lock whose pid is not a running process is stale (a crash, a SIGKILL) and is taken over. Unlike the data
 * directory, a busy profile is waited for — holders keep it for one operation only — up to a bound, then
 * SDK_STORE_BUSY "profile in use by pid N". Released only if it still holds this process's pid.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ClientError } from '../errors.js';

export const STORE_LOCK_FILE = 'overt.lock';
/** How long a second process waits for a busy profile by default (ms). */
export const STORE_LOCK_WAIT_MS = 60_000;

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

function tryTake(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, `${process.pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Takes the lock of `dir` for this process, waiting up to `waitMs` while another running process holds it;
 * resolves to its release. Throws SDK_STORE_BUSY naming the holder's pid when the wait runs out.
 */
export async function lockStoreDir(
  dir: string,
  options: { waitMs?: number } = {},
): Promise<() => Promise<void>> {
  const path = join(dir, STORE_LOCK_FILE);
  const waitMs = options.waitMs ?? STORE_LOCK_WAIT_MS;
  const start = Date.now();
  let unreadable = 0;
  for (;;) {
    if (tryTake(path)) break;
    const holder = readPid(path);
    if (holder === undefined) {
      // Being written by its creator this instant, or not a lock we wrote: stale if it stays unreadable.
      if (++unreadable > 20) rmSync(path, { force: true });
    } else if (holder !== process.pid && !running(holder)) {
      // Its holder is gone (a crash, a kill): stale. Take it over (whoever removes it first; O_EXCL decides).
      rmSync(path, { force: true });
      continue;
    } else {
      unreadable = 0;
    }
    if (Date.now() - start >= waitMs)
      throw new ClientError(
        'SDK_STORE_BUSY',
        `profile in use by pid ${holder ?? 'unknown'} (lock file ${path}); waited ${Math.round(waitMs / 1000)} s`,
      );
    await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    if (readPid(path) === process.pid) rmSync(path, { force: true });
  };
}
