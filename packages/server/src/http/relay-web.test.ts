/**
 * The web app's static files served by the relay (docs/spec/web.md §4): `/` and the app's own paths answer
 * index.html, assets come with their content type (hashed ones immutable) and the page's Content-Security-Policy,
 * the relay's prefixes are never shadowed (`/v1/`, `/log/`, `/.well-known/`, `/healthz` stay RELAY_NOT_FOUND or
 * the log's), a path leaving the directory is never read (WEB-S1), and a relay whose app is not built answers `/`
 * with a page saying so.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test/harness.js';
import { isReservedPath, StaticSite, WEB_CSP } from './static.js';

const dir = mkdtempSync(join(tmpdir(), 'overt-web-static-'));
const site = join(dir, 'site');
let h: Harness;
let bare: Harness;

/** A raw GET (fetch would normalise `..` and encoded slashes away before they reach the relay). */
function get(
  base: string,
  path: string,
): Promise<{ status: number; type: string; body: string; headers: Record<string, unknown> }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          body,
          headers: res.headers,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  mkdirSync(join(site, 'assets'), { recursive: true });
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(site, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(site, 'assets', 'index-abc123.css'), 'body{}');
  writeFileSync(join(dir, 'secret.txt'), 'outside the site');
  symlinkSync(join(dir, 'secret.txt'), join(site, 'link.txt'));
  h = await startHarness({ webRoot: site });
  bare = await startHarness({ webRoot: join(dir, 'not-built') });
});

afterAll(async () => {
  await h?.close();
  await bare?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the web app served by the relay (web.md §4)', () => {
  it('serves index.html at / and for the app paths, assets with their types, hashed assets immutable', async () => {
    const root = await get(h.url, '/');
    expect(root.status).toBe(200);
    expect(root.type).toBe('text/html; charset=utf-8');
    expect(root.body).toContain('<title>app</title>');
    expect(root.headers['content-security-policy']).toBe(WEB_CSP);
    expect(root.headers['cache-control']).toBe('no-cache');
    expect((await get(h.url, '/entry/12?x=1')).body).toContain('<title>app</title>');
    const js = await get(h.url, '/assets/index-abc123.js');
    expect(js.status).toBe(200);
    expect(js.type).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await get(h.url, '/assets/index-abc123.css')).type).toBe('text/css; charset=utf-8');
    expect((await get(h.url, '/assets/missing.js')).status).toBe(404);
  });

  it('never shadows the relay: /v1/, /log/, /.well-known/ and /healthz stay the relay’s', async () => {
    for (const p of ['/v1/nothing', '/v1', '/.well-known/nothing', '/healthz']) {
      const r = await get(h.url, p);
      expect(r.status, p).toBe(404);
      expect(r.type, p).toContain('application/problem+json');
      expect(JSON.parse(r.body).code, p).toBe('RELAY_NOT_FOUND');
    }
    const cp = await get(h.url, '/log/checkpoint');
    expect(cp.status).toBe(200);
    expect(cp.type).toBe('text/plain; charset=utf-8');
    expect(isReservedPath('/log')).toBe(true);
    expect(isReservedPath('/logo.png')).toBe(false);
    expect(isReservedPath('/v1x')).toBe(false);
  });

  it('never reads outside its directory (WEB-S1)', async () => {
    for (const p of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/..%5csecret.txt',
      '/%00index.html',
      '/%E0%A4%A',
      '/link.txt',
    ]) {
      const r = await get(h.url, p);
      expect(r.body, p).not.toContain('outside the site');
      expect([200, 400, 404], p).toContain(r.status);
    }
    const direct = new StaticSite(site);
    for (const p of ['/../secret.txt', '/link.txt', '/assets/..%2f..%2fsecret.txt'])
      expect((await direct.answer(p))?.status, p).toBe(404);
  });

  it('a relay whose app is not built says so at / (503), and keeps answering its API', async () => {
    const r = await get(bare.url, '/');
    expect(r.status).toBe(503);
    expect(r.body).toContain('The web app is not built');
    expect(r.body).toContain('npm run build');
    expect((await get(bare.url, '/log/checkpoint')).status).toBe(200);
    expect(new StaticSite(undefined).built).toBe(false);
  });
});
