/**
 * The web app's static files (web.md §4): `GET /` and every path outside the relay's own prefixes is answered
 * from the built app's directory — a file when one exists (with its content type; hashed assets cached as
 * immutable), otherwise `index.html` (the single-page app routes in the browser). Never under `/v1/`, `/log/`,
 * `/.well-known/` or `/healthz`: those stay the relay's, and an unknown path there is RELAY_NOT_FOUND (RLY-6).
 * A path that leaves the directory (`..`, an encoded slash or NUL, a symbolic link out) is never read (WEB-S1).
 */
import { realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';

/** Paths the web app never answers (the relay's API, the log, discovery and health). */
const RESERVED = ['/v1/', '/v1', '/log/', '/log', '/.well-known/', '/healthz'];

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** The page's policy: scripts and styles from this origin only, no inline script, no third-party origin. */
export const WEB_CSP =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

export interface StaticAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array | string;
}

/** Whether the relay keeps `path` for itself (never the web app's). */
export function isReservedPath(path: string): boolean {
  return RESERVED.some((p) =>
    p.endsWith('/') ? path.startsWith(p) : path === p || path.startsWith(`${p}/`),
  );
}

const MISSING_PAGE =
  '<!doctype html><meta charset="utf-8"><title>Overt</title>' +
  '<h1>The web app is not built</h1><p>This relay serves its API, the log under <code>/log/</code> and ' +
  '<code>/.well-known/overt</code>. Build the app with <code>npm run build</code> (or ' +
  '<code>npm run build -w @overt/web</code>) and restart the relay to see the transparency dashboard here.</p>';

/**
 * Serves the built web app from `root` (its `dist/` directory). `root` undefined or without `index.html` gives a
 * short page saying the app is not built (503), never a crash.
 */
export class StaticSite {
  private readonly root: string | undefined;

  constructor(root: string | undefined) {
    let real: string | undefined;
    try {
      if (root !== undefined && statSync(join(root, 'index.html')).isFile()) real = realpathSync(root);
    } catch {
      real = undefined;
    }
    this.root = real;
  }

  get built(): boolean {
    return this.root !== undefined;
  }

  /** The answer to `GET url` (query ignored), or undefined for a reserved path (the relay's 404 then). */
  async answer(url: string): Promise<StaticAnswer | undefined> {
    const raw = url.split('?')[0]!.split('#')[0]!;
    if (isReservedPath(raw)) return undefined;
    const base = { 'content-security-policy': WEB_CSP, 'x-content-type-options': 'nosniff' };
    if (this.root === undefined)
      return {
        status: 503,
        headers: { ...base, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
        body: MISSING_PAGE,
      };
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      return this.notFound(base);
    }
    // WEB-S1: no NUL, no backslash, no dot segment; the resolved file must stay under the root.
    if (path.includes('\0') || path.includes('\\') || path.split('/').some((s) => s === '..' || s === '.'))
      return this.notFound(base);
    if (path === '/' || path === '') return this.file(join(this.root, 'index.html'), base, false);
    const file = await this.resolve(path);
    if (file !== undefined) return this.file(file, base, path.startsWith('/assets/'));
    // The single-page app's own routes: a path with no extension is the app; a missing asset is a 404.
    if (extname(path) === '') return this.file(join(this.root, 'index.html'), base, false);
    return this.notFound(base);
  }

  private async resolve(path: string): Promise<string | undefined> {
    const root = this.root!;
    try {
      const real = realpathSync(join(root, path));
      if (!real.startsWith(root + sep) || !statSync(real).isFile()) return undefined;
      return real;
    } catch {
      return undefined;
    }
  }

  private async file(file: string, base: Record<string, string>, immutable: boolean): Promise<StaticAnswer> {
    const body = new Uint8Array(await readFile(file));
    return {
      status: 200,
      headers: {
        ...base,
        'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      },
      body,
    };
  }

  private notFound(base: Record<string, string>): StaticAnswer {
    return {
      status: 404,
      headers: { ...base, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
      body: 'not found\n',
    };
  }
}
