/**
 * Signing keys kept in a data directory: the witness's cosigning key (and, through the same function, the
 * standalone log's checkpoint key that `overt log serve` keeps).
 *
 * A key is generated on first start and stored in the signer-key text form of C2SP signed-note keys
 * (`PRIVATE+KEY+<name>+<key ID>+base64(type ‖ seed)`; type 0x04 for c2sp.org/tlog-cosignature witnesses), in a
 * file of mode 0600 inside a directory of mode 0700. A key file that group or others can
 * read is refused rather than used: the key is the signer's whole identity, and a copy of a witness key can
 * cosign a split view.
 */
import {
  closeSync,
  constants,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes, toHex, utf8Encode } from '@overt/core';
import {
  formatSignerKey,
  generateSignerKey,
  isLogError,
  isValidKeyName,
  parseSignerKey,
  SIGNATURE_TYPE_COSIGNATURE,
  type SignerKey,
} from '@overt/log';
import { WitnessError } from './errors.js';

/** The witness key's file name inside its data directory. */
export const KEY_FILE = 'witness.key';

export interface LoadedKey {
  readonly key: SignerKey;
  /** True when this call generated the key (first start). */
  readonly created: boolean;
}

/**
 * Loads the signer key of signature `type` from `path`, generating it (named `name`, or `defaultName()`) if the
 * file does not exist. For an existing key, `name`, when given, must be the stored key's name.
 * @throws WitnessError WITNESS_CONFIG for an unreadable, unparsable, wrongly typed or over-exposed key file.
 */
export function loadOrCreateKeyFile(
  path: string,
  type: number,
  name: string | undefined,
  defaultName: () => string,
): LoadedKey {
  const file = basename(path);
  if (name !== undefined && !isValidKeyName(name))
    throw new WitnessError('WITNESS_CONFIG', 'a key name must be non-empty, with no spaces and no "+"');
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new WitnessError('WITNESS_CONFIG', 'cannot create the data directory', { cause: e });
  }
  if (!existsSync(path)) {
    const key = generateSignerKey(name ?? defaultName(), type);
    // Written to a private temporary file, then linked into place: link() fails if the key file appeared
    // meanwhile, so of two processes starting at once on one directory exactly one key wins, and nobody ever
    // reads a half-written file.
    const tmp = `${path}.${process.pid}.${toHex(randomBytes(4))}.tmp`;
    try {
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        writeSync(fd, utf8Encode(`${formatSignerKey(key)}\n`));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      linkSync(tmp, path);
      return { key, created: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new WitnessError('WITNESS_CONFIG', `cannot create ${file}`, { cause: e });
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  return { key: readKeyFile(path, file, type, name), created: false };
}

function readKeyFile(path: string, file: string, type: number, name: string | undefined): SignerKey {
  let text: string;
  try {
    if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0)
      throw new WitnessError('WITNESS_CONFIG', `${file} is readable by group or others; chmod 600 it`, {
        check: 'WIT-13',
      });
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof WitnessError) throw e;
    throw new WitnessError('WITNESS_CONFIG', `cannot read ${file}`, { cause: e });
  }
  let key: SignerKey;
  try {
    key = parseSignerKey(text.replace(/\n$/, ''));
  } catch (e) {
    // The parse error names the rule only, never key bytes.
    if (isLogError(e))
      throw new WitnessError('WITNESS_CONFIG', `${file} is not a valid signer key`, { cause: e });
    throw e;
  }
  if (key.type !== type)
    throw new WitnessError('WITNESS_CONFIG', `${file} holds a key of type 0x0${key.type}, not 0x0${type}`);
  if (name !== undefined && name !== key.name)
    throw new WitnessError('WITNESS_CONFIG', `the name given differs from the one ${file} was created with`);
  return key;
}

/**
 * Loads the witness's cosigning key (type 0x04) from `dataDir/witness.key`, generating it on first start.
 * Without a name, a new key is named `witness-<random>.overt.invalid` (key names SHOULD be schema-less URLs).
 */
export function loadOrCreateWitnessKey(dataDir: string, name?: string): LoadedKey {
  return loadOrCreateKeyFile(
    join(dataDir, KEY_FILE),
    SIGNATURE_TYPE_COSIGNATURE,
    name,
    () => `witness-${toHex(randomBytes(4))}.overt.invalid`,
  );
}
