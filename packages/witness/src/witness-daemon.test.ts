// The witness daemon's data directory: the key is generated once (mode 0600, directory 0700) and reused, and
// the cosigned state survives a restart, so a restarted witness cannot be rolled back or made to forget a fork.
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSignerKey } from '@overt/log';
import { afterAll, expect, it } from 'vitest';
import {
  describeTessera,
  proofFor,
  signTree,
  TESSERA,
  tempDirs,
  tesseraCheckpoint,
  tesseraKey,
  tesseraLeaves,
  tesseraVerifier,
} from '../test/fixtures.js';
import { startWitnessDaemon } from './daemon.js';
import { WitnessError } from './errors.js';
import { KEY_FILE, loadOrCreateWitnessKey } from './keys.js';
import { encodeAddCheckpointRequest } from './request.js';

const leaves = tesseraLeaves();
const logs = [{ origin: TESSERA.origin, keys: [tesseraVerifier()] }];
const dirs = tempDirs();
afterAll(() => dirs.cleanup());

async function post(
  url: string,
  old: number,
  size: number,
  note = tesseraCheckpoint(size),
): Promise<Response> {
  const body = new Uint8Array(encodeAddCheckpointRequest(old, await proofFor(leaves, old, size), note));
  return fetch(`${url}/add-checkpoint`, { method: 'POST', body });
}

describeTessera('witness data directory', () => {
  it('generates the key on first start with mode 0600 in a 0700 directory, and reuses it', async () => {
    const dir = join(dirs.make(), 'w');
    const first = loadOrCreateWitnessKey(dir, 'witness.test/keys');
    expect(first.created).toBe(true);
    if (process.platform !== 'win32') {
      expect(statSync(join(dir, KEY_FILE)).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    }
    const text = readFileSync(join(dir, KEY_FILE), 'utf8');
    expect(text.startsWith('PRIVATE+KEY+witness.test/keys+')).toBe(true);
    expect(parseSignerKey(text.trim()).type).toBe(0x04);
    const again = loadOrCreateWitnessKey(dir);
    expect(again.created).toBe(false);
    expect(again.key.publicKey).toEqual(first.key.publicKey);
    expect(again.key.name).toBe('witness.test/keys');
  });

  it('refuses a key file readable by others, a different name, a wrong key type, a bad name', () => {
    const dir = dirs.make();
    loadOrCreateWitnessKey(dir, 'witness.test/a');
    expect(() => loadOrCreateWitnessKey(dir, 'witness.test/b')).toThrow(/differs/);
    if (process.platform !== 'win32') {
      chmodSync(join(dir, KEY_FILE), 0o644);
      expect(() => loadOrCreateWitnessKey(dir)).toThrow(/chmod 600/);
      expect(() => loadOrCreateWitnessKey(dir)).toThrow(expect.objectContaining({ check: 'WIT-13' }));
    }
    const other = dirs.make();
    writeFileSync(join(other, KEY_FILE), `${TESSERA.skey}\n`, { mode: 0o600 });
    expect(() => loadOrCreateWitnessKey(other)).toThrow(/not 0x04/);
    writeFileSync(join(other, KEY_FILE), 'PRIVATE+KEY+junk\n', { mode: 0o600 });
    expect(() => loadOrCreateWitnessKey(other)).toThrow(WitnessError);
    expect(() => loadOrCreateWitnessKey(dirs.make(), 'has space')).toThrow(WitnessError);
  });

  it('keeps its vkey and its cosigned state across a restart', async () => {
    const dir = dirs.make();
    const w1 = await startWitnessDaemon({ dataDir: dir, name: 'witness.test/durable', logs });
    expect(w1.keyCreated).toBe(true);
    expect((await post(w1.url, 0, 6)).status).toBe(200);
    const vkey = w1.vkey;
    await w1.close();

    const w2 = await startWitnessDaemon({ dataDir: dir, logs });
    try {
      expect(w2.keyCreated).toBe(false);
      expect(w2.vkey).toBe(vkey);
      // Still at 6: a log that pretends the witness is new is told the truth.
      const res = await post(w2.url, 0, 9);
      expect(res.status).toBe(409);
      expect(await res.text()).toBe('6\n');
      // The fork at size 6 is still refused after the restart.
      const fork = signTree(tesseraKey(), TESSERA.origin, [...leaves.slice(0, 5), new Uint8Array(32)], 6);
      expect((await post(w2.url, 6, 6, fork)).status).toBe(409);
      expect((await post(w2.url, 6, 9)).status).toBe(200);
    } finally {
      await w2.close();
    }
    const w3 = await startWitnessDaemon({ dataDir: dir, logs });
    try {
      expect(await (await post(w3.url, 6, 10)).text()).toBe('9\n');
    } finally {
      await w3.close();
    }
  });
});
