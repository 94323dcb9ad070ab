// c2sp.org/tlog-tiles served by the log service: the Tessera reference log reproduced byte for byte, the HTTP
// status codes and caching headers of docs/spec/log-service.md "HTTP", and malformed input on every route.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedVectors } from '../../../../test/shared-vectors.js';
import { parseSignerKey } from '../note.js';
import { parseReceipt } from '../proof.js';
import { IMMUTABLE_CACHE, type RunningLogServer, startLogServer } from './http.js';
import { Sequencer } from './sequencer.js';
import { openSqliteStorage, type SqliteLogStorage } from './sqlite-storage.js';

// The public vectors live in shared/ beside the repository (OVERT_VECTORS overrides, as in the pure tests).
const tessera = sharedVectors('tessera-log', 'checkpoint.15');
const vector = (path: string): Uint8Array => new Uint8Array(readFileSync(tessera.path(path)));

const ORIGIN = 'example.com/log/testdata';
const KEY = 'PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg';
const WORDS = 'one two three four five six seven eit nain ten ileven twelf threeten fourten fivten'.split(
  ' ',
);
const enc = new TextEncoder();

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Uint8Array;
}

/** A raw HTTP request (no automatic decompression, any method and path), for exact status and header checks. */
function raw(
  url: string,
  path: string,
  options: { method?: string; body?: Uint8Array; headers?: Record<string, string> } = {},
): Promise<Got> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: new Uint8Array(Buffer.concat(chunks)),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

tessera.describe('C2SP tlog-tiles: the Tessera reference log, served byte-identical', () => {
  let storage: SqliteLogStorage;
  let sequencer: Sequencer;
  let server: RunningLogServer;

  beforeAll(async () => {
    storage = openSqliteStorage({ path: ':memory:' });
    sequencer = await Sequencer.start({ storage, origin: ORIGIN, key: parseSignerKey(KEY) });
    server = await startLogServer({ storage, sequencer, prefix: '/log/' });
  });

  afterAll(async () => {
    await server.close();
    await sequencer.close();
    await storage.close();
  });

  it('serves checkpoint.0 for the new log, then checkpoint.N, tile/0/000.p/N and tile/entries/000.p/N after each append', async () => {
    const origin = `http://127.0.0.1:${server.port}`;
    expect((await raw(origin, '/log/checkpoint')).body).toEqual(vector('checkpoint.0'));
    for (const [i, word] of WORDS.entries()) {
      const n = i + 1;
      const { index, checkpoint } = await sequencer.append(enc.encode(word));
      expect(index).toBe(i);
      expect(checkpoint.note).toBe(new TextDecoder().decode(vector(`checkpoint.${n}`)));
      const cp = await raw(origin, '/log/checkpoint');
      expect(cp.body).toEqual(vector(`checkpoint.${n}`));
      expect(cp.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect((await raw(origin, `/log/tile/0/000.p/${n}`)).body).toEqual(vector(`tile/0/000.p/${n}`));
      expect((await raw(origin, `/log/tile/entries/000.p/${n}`)).body).toEqual(
        vector(`tile/entries/000.p/${n}`),
      );
    }
    expect((await raw(origin, '/log/checkpoint')).body).toEqual(vector('checkpoint'));
    // Partial tiles of every earlier checkpoint stay available (tlog-tiles §Partial Tiles) and unchanged.
    for (let n = 1; n <= WORDS.length; n++) {
      expect((await raw(origin, `/log/tile/0/000.p/${n}`)).body).toEqual(vector(`tile/0/000.p/${n}`));
      expect((await raw(origin, `/log/tile/entries/000.p/${n}`)).body).toEqual(
        vector(`tile/entries/000.p/${n}`),
      );
    }
  });

  it('gzips entry bundles when the client accepts it, and the bytes inflate to the reference bundle', async () => {
    const origin = `http://127.0.0.1:${server.port}`;
    const got = await raw(origin, '/log/tile/entries/000.p/15', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(got.headers['content-encoding']).toBe('gzip');
    expect(got.headers.vary).toBe('Accept-Encoding');
    expect(new Uint8Array(gunzipSync(got.body))).toEqual(vector('tile/entries/000.p/15'));
  });
});

describe('log HTTP: status codes, headers, malformed input', () => {
  let storage: SqliteLogStorage;
  let sequencer: Sequencer;
  let server: RunningLogServer;
  let base: string;

  beforeAll(async () => {
    storage = openSqliteStorage({ path: ':memory:' });
    sequencer = await Sequencer.start({ storage, origin: ORIGIN, key: parseSignerKey(KEY) });
    server = await startLogServer({
      storage,
      sequencer,
      prefix: '/log/',
      maxBodyBytes: 1000,
      appendToken: 'tkn',
    });
    base = `http://127.0.0.1:${server.port}`;
    await Promise.all(Array.from({ length: 300 }, (_, i) => sequencer.append(enc.encode(`entry ${i}`))));
  });

  afterAll(async () => {
    await server.close();
    await sequencer.close();
    await storage.close();
  });

  it('full tiles and bundles are immutable; partial ones and the checkpoint get a short max-age', async () => {
    const full = await raw(base, '/log/tile/0/000');
    expect(full.status).toBe(200);
    expect(full.body.length).toBe(8192);
    expect(full.headers['cache-control']).toBe(IMMUTABLE_CACHE);
    expect(full.headers['content-type']).toBe('application/octet-stream');
    const bundle = await raw(base, '/log/tile/entries/000');
    expect(bundle.headers['cache-control']).toBe(IMMUTABLE_CACHE);
    const partial = await raw(base, '/log/tile/0/001.p/44');
    expect(partial.status).toBe(200);
    expect(partial.body.length).toBe(44 * 32);
    expect(partial.headers['cache-control']).toBe('public, max-age=2');
    expect((await raw(base, '/log/tile/1/000.p/1')).headers['cache-control']).toBe('public, max-age=2');
    expect((await raw(base, '/log/checkpoint')).headers['cache-control']).toBe('public, max-age=2');
    const head = await raw(base, '/log/tile/0/000', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('8192');
    expect(head.body.length).toBe(0);
  });

  it('answers 404 for absent tiles and bundles, and for unknown paths under the prefix', async () => {
    for (const path of [
      '/log/tile/0/001', // only partial so far
      '/log/tile/0/001.p/45', // wider than the tree
      '/log/tile/0/002.p/1',
      '/log/tile/1/000', // level 1 is partial
      '/log/tile/2/000.p/1',
      '/log/tile/entries/001',
      '/log/tile/entries/001.p/45',
      '/log/tile/entries/x001/000',
      '/log/nothing',
      '/elsewhere',
    ]) {
      const got = await raw(base, path);
      expect(got.status, path).toBe(404);
      expect(got.headers['content-type'], path).toBe('application/problem+json');
    }
  });

  it('answers 400 with TILE_PATH for malformed tile paths', async () => {
    for (const path of [
      '/log/tile/0/1',
      '/log/tile/00/000',
      '/log/tile/64/000',
      '/log/tile/0/000.p/0',
      '/log/tile/0/000.p/256',
      '/log/tile/0/000.p/012',
      '/log/tile/0/x000/001',
      '/log/tile/0/001/002',
      '/log/tile/-1/000',
      '/log/tile/entries/1',
      '/log/tile/entries/000.p/',
      '/log/tile/0/%30%30%30',
    ]) {
      const got = await raw(base, path);
      expect(got.status, path).toBe(400);
      const problem = JSON.parse(new TextDecoder().decode(got.body));
      expect(problem.code, path).toBe('TILE_PATH');
      expect(problem.status).toBe(400);
    }
  });

  it('answers 405 with Allow for wrong methods', async () => {
    const post = await raw(base, '/log/checkpoint', { method: 'POST', body: enc.encode('x') });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const get = await raw(base, '/log/add');
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect((await raw(base, '/log/tile/0/000', { method: 'DELETE' })).status).toBe(405);
  });

  it('POST add: 401 without the token, 413 over the body limit (declared or streamed), 200 with a receipt', async () => {
    const noAuth = await raw(base, '/log/add', { method: 'POST', body: enc.encode('x') });
    expect(noAuth.status).toBe(401);
    expect(JSON.parse(new TextDecoder().decode(noAuth.body)).code).toBe('HTTP_UNAUTHORIZED');
    const badAuth = await raw(base, '/log/add', {
      method: 'POST',
      body: enc.encode('x'),
      headers: { Authorization: 'Bearer tkx' },
    });
    expect(badAuth.status).toBe(401);
    const auth = { Authorization: 'Bearer tkn' };
    const big = await raw(base, '/log/add', { method: 'POST', body: new Uint8Array(1001), headers: auth });
    expect(big.status).toBe(413);
    expect(JSON.parse(new TextDecoder().decode(big.body))).toMatchObject({
      code: 'HTTP_TOO_LARGE',
      check: 'SEQ-2',
    });
    const chunked = await raw(base, '/log/add', {
      method: 'POST',
      body: new Uint8Array(5000),
      headers: { ...auth, 'Transfer-Encoding': 'chunked' },
    });
    expect(chunked.status).toBe(413);
    const before = sequencer.checkpoint.size;
    const ok = await raw(base, '/log/add', { method: 'POST', body: enc.encode('hello'), headers: auth });
    expect(ok.status).toBe(200);
    const receipt = parseReceipt(ok.body);
    expect(receipt.index).toBe(before);
    expect(receipt.checkpoint.size).toBeGreaterThan(before);
    expect(sequencer.checkpoint.size).toBe(before + 1);
  });

  it('random paths and methods never crash the server and only yield 200/400/404/405 (fuzz)', async () => {
    const segment = fc.oneof(
      fc.constantFrom(
        'tile',
        'entries',
        'x001',
        '000',
        '001',
        '.p',
        '256',
        '0',
        '1',
        'checkpoint',
        'add',
        '..',
        '%2F',
      ),
      fc.string({ maxLength: 6 }).map(encodeURIComponent),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(segment, { maxLength: 6 }),
        fc.constantFrom('GET', 'HEAD', 'PUT'),
        async (segs, method) => {
          const got = await raw(base, `/log/${segs.join('/')}`, { method });
          expect([200, 400, 404, 405]).toContain(got.status);
          if (got.status !== 200) expect(got.headers['content-type']).toBe('application/problem+json');
        },
      ),
      { numRuns: 150 },
    );
    expect((await raw(base, '/log/checkpoint')).status).toBe(200);
  });
});
