// `overt witness serve` as operators run it: two witness processes started at once on one data directory
// (one key is created, both use it), many concurrent add-checkpoint requests from one state spread over both
// processes (the SQLite compare-and-swap lets exactly one advance), then a restart that remembers the state.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeAddCheckpointRequest } from '../../witness/src/request.js';
import {
  proofFor,
  signTree,
  TESSERA,
  tempDirs,
  tesseraKey,
  tesseraLeaves,
} from '../../witness/test/fixtures.js';
import { startDaemon } from '../test/run-cli.js';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());
const leaves = tesseraLeaves();

async function post(url: string, old: number, size: number): Promise<Response> {
  const body = new Uint8Array(
    // The tessera log's checkpoints, signed here with its published key (Ed25519 is deterministic, so these are
    // the shared vectors' bytes): the test needs no ../shared beside the repository.
    encodeAddCheckpointRequest(
      old,
      await proofFor(leaves, old, size),
      signTree(tesseraKey(), TESSERA.origin, leaves, size),
    ),
  );
  return fetch(`${url}/add-checkpoint`, { method: 'POST', body });
}

describe('overt witness serve', () => {
  it('two processes on one data directory: one key, one winner per state, state kept across a restart', async () => {
    const data = join(dirs.make(), 'w');
    const args = [
      'witness',
      'serve',
      '--data',
      data,
      '--port',
      '0',
      '--log',
      `${TESSERA.origin}=${TESSERA.vkey}`,
      '--json',
    ];
    const named = [...args, '--name', 'witness.cli.test/shared'];
    const a = startDaemon(named);
    const b = startDaemon(named);
    const [la, lb] = await Promise.all([
      a.waitFor((e) => e.event === 'listening'),
      b.waitFor((e) => e.event === 'listening'),
    ]);
    // Whichever started first made the key; the other loaded it.
    expect(la.vkey).toBe(lb.vkey);
    expect([la.keyCreated, lb.keyCreated].filter(Boolean)).toHaveLength(1);
    const urls = [la.url as string, lb.url as string];

    expect((await post(urls[0]!, 0, 2)).status).toBe(200);
    const sizes = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const responses = await Promise.all(sizes.map((s, i) => post(urls[i % 2]!, 2, s)));
    const winners = sizes.filter((_, i) => responses[i]!.status === 200);
    expect(winners).toHaveLength(1);
    for (const r of responses) {
      if (r.status === 200) continue;
      expect(r.status).toBe(409);
      expect(await r.text()).toBe(`${winners[0]}\n`);
    }
    const [ra, rb] = await Promise.all([a.stop(), b.stop()]);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    // Every request was logged (pino, stderr) by the process that handled it, without any request bytes.
    const logged = [...ra.stderr.split('\n'), ...rb.stderr.split('\n')].filter((l) =>
      l.includes('"msg":"request"'),
    );
    for (const l of logged) expect(JSON.parse(l)).toMatchObject({ service: 'witness' });
    expect(logged).toHaveLength(sizes.length + 1);

    const c = startDaemon(args);
    const lc = await c.waitFor((e) => e.event === 'listening');
    expect(lc.vkey).toBe(la.vkey);
    expect(lc.keyCreated).toBe(false);
    const again = await post(lc.url as string, 0, 15);
    expect(again.status).toBe(409);
    expect(again.headers.get('content-type')).toBe('text/x.tlog.size');
    expect(await again.text()).toBe(`${winners[0]}\n`);
    expect((await c.stop()).code).toBe(0);
  });
});
