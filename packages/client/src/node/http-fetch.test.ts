/**
 * httpFetch (http-fetch.ts), the CLI's `fetch` over node:http, against a real local HTTP server: what the SDK's
 * transport and log reader rely on (method, headers, byte body, status, response headers, whole body), the parts
 * of `fetch` around it (redirects, encoded bodies) and its failure shape (`fetch failed` with the system error as
 * cause, as the CLI's `networkReason` reads it). Each answer is compared with the global `fetch`'s.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpFetch } from './http-fetch.js';

let server: Server;
let base: string;
const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }[] = [];

function handle(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
  const url = new URL(req.url ?? '/', base);
  switch (url.pathname) {
    case '/echo':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'X-Method': req.method ?? '' });
      res.end(body);
      return;
    case '/json-404':
      res.writeHead(404, { 'content-type': 'application/problem+json', 'retry-after': '3' });
      res.end(JSON.stringify({ code: 'NOPE' }));
      return;
    case '/gzip':
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end(gzipSync(Buffer.from('compressed answer')));
      return;
    case '/empty':
      res.writeHead(204);
      res.end();
      return;
    case '/redirect': {
      const status = Number(url.searchParams.get('status'));
      res.writeHead(status, { location: '/echo' });
      res.end();
      return;
    }
    case '/loop':
      res.writeHead(302, { location: '/loop' });
      res.end();
      return;
    case '/cut':
      // Promises a longer body than it sends, then drops the connection.
      res.writeHead(200, { 'content-length': '100' });
      res.write('short');
      setTimeout(() => res.socket?.destroy(), 10);
      return;
    default:
      res.writeHead(404);
      res.end();
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const text = async (r: { arrayBuffer(): Promise<ArrayBuffer> }) =>
  Buffer.from(await r.arrayBuffer()).toString('utf8');

describe('httpFetch', () => {
  it('sends the method, headers and byte body, and returns status, headers and body as fetch does', async () => {
    const body = new Uint8Array([0, 1, 2, 250, 255]);
    // A fresh copy each: fetch takes its body's buffer over.
    const init = () => ({
      method: 'PUT',
      headers: { 'X-Overt-Test': 'yes', 'content-type': 'a/b' },
      body: body.slice(),
    });
    const ours = await httpFetch(`${base}/echo`, init());
    const theirs = await fetch(`${base}/echo`, init());
    for (const r of [ours, theirs]) {
      expect(r.status).toBe(200);
      expect(r.headers.get('x-method')).toBe('PUT');
      expect(r.headers.get('Content-Type')).toBe('application/octet-stream');
      expect(r.headers.get('absent')).toBeNull();
      expect(new Uint8Array(await r.arrayBuffer())).toEqual(body);
    }
    const got = seen.at(-2)!;
    expect(got.method).toBe('PUT');
    expect(got.headers['x-overt-test']).toBe('yes');
    expect(got.headers['content-length']).toBe('5');
    expect(new Uint8Array(got.body)).toEqual(body);
  });

  it('returns a refusal with its status, headers and body, like fetch', async () => {
    const ours = await httpFetch(`${base}/json-404`);
    const theirs = await fetch(`${base}/json-404`);
    expect(ours.status).toBe(theirs.status);
    expect(ours.ok).toBe(false);
    expect(ours.headers.get('retry-after')).toBe('3');
    expect(await ours.text()).toBe(await theirs.text());
    const empty = await httpFetch(`${base}/empty`);
    expect(empty.status).toBe(204);
    expect((await empty.arrayBuffer()).byteLength).toBe(0);
  });

  it('decodes a gzip body', async () => {
    expect(await text(await httpFetch(`${base}/gzip`))).toBe('compressed answer');
  });

  it.each([
    [301, 'POST', 'GET'],
    [302, 'POST', 'GET'],
    [303, 'PUT', 'GET'],
    [307, 'POST', 'POST'],
    [308, 'PUT', 'PUT'],
    [302, 'GET', 'GET'],
  ])('follows a %i redirect of a %s as fetch does (%s)', async (status, method, after) => {
    const init = (): { method: string; headers: Record<string, string>; body?: Uint8Array<ArrayBuffer> } =>
      method === 'GET'
        ? { method, headers: {} }
        : { method, headers: { 'content-type': 'text/plain' }, body: new Uint8Array([7]) };
    const ours = await httpFetch(`${base}/redirect?status=${status}`, init());
    const oursSeen = seen.at(-1)!;
    expect(ours.status).toBe(200);
    expect(ours.url).toBe(`${base}/echo`);
    expect(ours.headers.get('x-method')).toBe(after);
    expect(oursSeen.method).toBe(after);
    const keepsBody = after !== 'GET';
    expect(oursSeen.body.length).toBe(keepsBody ? 1 : 0);
    expect(oursSeen.headers['content-type']).toBe(keepsBody ? 'text/plain' : undefined);
    // Node 20's fetch fails a 307/308 with a byte body (it resends a buffer it has taken over); the others agree.
    if (keepsBody) return;
    await fetch(`${base}/redirect?status=${status}`, init());
    const theirsSeen = seen.at(-1)!;
    expect(oursSeen.method).toBe(theirsSeen.method);
    expect(oursSeen.body.length).toBe(theirsSeen.body.length);
    expect(oursSeen.headers['content-type']).toBe(theirsSeen.headers['content-type']);
  });

  it('gives up after 20 redirects', async () => {
    await expect(httpFetch(`${base}/loop`)).rejects.toThrow('fetch failed');
  });

  it('fails like fetch: `fetch failed` with the system error as cause', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const e = await httpFetch(`http://127.0.0.1:${port}/x`).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(TypeError);
    expect((e as Error).message).toBe('fetch failed');
    expect(((e as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
    await expect(httpFetch(`${base}/cut`)).rejects.toThrow('fetch failed');
    await expect(httpFetch('ftp://127.0.0.1/x')).rejects.toThrow('fetch failed');
    // As fetch: a GET or HEAD request has no body.
    await expect(httpFetch(`${base}/echo`, { body: new Uint8Array(1) })).rejects.toThrow(TypeError);
  });
});
