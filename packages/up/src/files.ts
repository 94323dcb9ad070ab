/**
 * Secret files of the all-in-one start (docs/spec/start.md §4): created once with random bytes (mode 0600) and
 * refused when group or others can read them (START-2); and atomic writes.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { StandaloneError } from './errors.js';

export const SECRET_BYTES = 32;

/** Writes `data` to `path` atomically (temporary file, fsync, rename), mode 0600. */
export function writeFileAtomic(path: string, data: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/**
 * Reads a secret file, creating it with `bytes` random bytes (mode 0600) if absent. Throws START_SHARE_FILE
 * (START-2) when it is readable by group or others, or has the wrong length.
 */
export function loadOrCreateSecretFile(
  path: string,
  bytes: number,
): { secret: Uint8Array; created: boolean } {
  let created = false;
  if (!existsSync(path)) {
    const fresh = new Uint8Array(nodeRandomBytes(bytes));
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, fresh);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    fresh.fill(0);
    created = true;
  }
  if ((statSync(path).mode & 0o077) !== 0)
    throw new StandaloneError('START_SHARE_FILE', `${path} is readable by others; make it mode 0600`, {
      check: 'START-2',
    });
  const secret = new Uint8Array(readFileSync(path));
  if (secret.length !== bytes)
    throw new StandaloneError('START_SHARE_FILE', `${path} has the wrong length`, { check: 'START-2' });
  return { secret, created };
}
