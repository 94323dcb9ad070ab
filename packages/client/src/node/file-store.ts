/**
 * The SDK's file-backed KeyValueStore for Node (docs/spec/client.md's store interface; the CLI keeps its profiles
 * in it, docs/spec/cli.md §2; IndexedDB is the browser's, later): one file per
 * key under a private directory, the key base64url-encoded as the file name. `put` writes a temporary file
 * (mode 0600) and renames it over the old one, so a crash or a concurrent reader sees the old or the new value,
 * never a mix.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromBase64Url, randomBytes, toBase64Url, toHex, utf8Decode, utf8Encode } from '@overt/core';
import type { KeyValueStore } from '../store/store.js';

export class FileStore implements KeyValueStore {
  private constructor(private readonly dir: string) {}

  /** Opens (creating, mode 0700) the store directory. */
  static async open(dir: string): Promise<FileStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new FileStore(dir);
  }

  private path(key: string): string {
    return join(this.dir, `k-${toBase64Url(utf8Encode(key))}`);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    const tmp = join(this.dir, `t-${toHex(randomBytes(8))}`);
    await writeFile(tmp, value, { mode: 0o600, flag: 'wx' });
    await rename(tmp, this.path(key));
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for (const f of await readdir(this.dir)) {
      if (!f.startsWith('k-')) continue;
      let key: string;
      try {
        key = utf8Decode(fromBase64Url(f.slice(2)));
      } catch {
        // A stray file that is not one of ours: not a key.
        continue;
      }
      if (key.startsWith(prefix)) keys.push(key);
    }
    return keys.sort();
  }
}
