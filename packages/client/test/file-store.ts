/**
 * A file-backed KeyValueStore for Node (tests here; the CLI is where a production one belongs, since the SDK's
 * src is browser-safe). One file per key under a directory, the key base64url-encoded as the file name; `put`
 * writes a temporary file and renames it over the old one, so a reader sees the old or the new value, never a mix.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fromBase64Url, randomBytes, toBase64Url, toHex, utf8Decode, utf8Encode } from '@overt/core';
import type { KeyValueStore } from '../src/index.js';

export class FileStore implements KeyValueStore {
  private constructor(private readonly dir: string) {}

  static async open(dir: string): Promise<FileStore> {
    await mkdir(dir, { recursive: true });
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
    await writeFile(tmp, value);
    await rename(tmp, this.path(key));
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    return (await readdir(this.dir))
      .filter((f) => f.startsWith('k-'))
      .map((f) => utf8Decode(fromBase64Url(f.slice(2))))
      .filter((k) => k.startsWith(prefix))
      .sort();
  }
}
