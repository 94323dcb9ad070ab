/**
 * A `fetch` for the SDK's transport and log reader on Node, over `node:http` / `node:https` (issue #9: start-up).
 * Node's global `fetch` loads and compiles its bundled undici on first use, about 70 ms on a small machine before
 * the first request leaves — a third of a short `overt send`. This one loads only Node's HTTP modules, which are
 * much smaller. It does what the SDK asks of a fetch ({@link HttpFetchInit}: a method, string headers, an
 * optional byte body; a response's status, headers and whole body) and what `fetch` does around that:
 *
 * - redirects are followed like `fetch` follows them (at most 20; 303, and 301/302 after a POST, become a GET
 *   without a body; a redirect to another origin drops `authorization`);
 * - a `gzip`, `deflate` or `br` encoded body is decoded (none is asked for: no `accept-encoding` is sent);
 * - a connection not made within 10 s, or no data for 300 s, fails the request (undici's defaults);
 * - a failure is a `TypeError('fetch failed')` whose `cause` is the system error (e.g. `code: 'ECONNREFUSED'`),
 *   as `fetch` throws it.
 *
 * Keep-alive connections come from Node's global agents; the process exits when the command is done.
 */
import type { IncomingMessage, RequestOptions } from 'node:http';
import { request as httpRequest } from 'node:http';

/** What the SDK passes to a fetch (relay-transport.ts, directory-log.ts). */
export interface HttpFetchInit {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
}

/** What the SDK reads of a fetch's response: a structural subset of the platform's `Response`. */
export interface HttpFetchResponse {
  readonly status: number;
  readonly ok: boolean;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
}

const MAX_REDIRECTS = 20;
const CONNECT_TIMEOUT_MS = 10_000;
const IDLE_TIMEOUT_MS = 300_000;
/** Headers that describe a request body, dropped when a redirect turns the request into a bodiless GET. */
const BODY_HEADERS = [
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-location',
];

function failed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

function timeout(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** One request, no redirect handling: the response with its whole (decoded) body. */
async function once(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Uint8Array | undefined,
): Promise<{ res: IncomingMessage; bytes: Buffer }> {
  let request = httpRequest;
  if (url.protocol === 'https:') request = (await import('node:https')).request;
  else if (url.protocol !== 'http:') throw new TypeError(`fetch: unsupported protocol ${url.protocol}`);
  const options: RequestOptions = {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-length': String(body.length) },
  };
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, options, resolve);
    req.on('error', reject);
    req.setTimeout(IDLE_TIMEOUT_MS, () =>
      req.destroy(timeout('UND_ERR_HEADERS_TIMEOUT', 'no response within 300 s')),
    );
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      const timer = setTimeout(
        () => req.destroy(timeout('UND_ERR_CONNECT_TIMEOUT', 'connect timeout')),
        CONNECT_TIMEOUT_MS,
      );
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    });
    req.end(body);
  });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', resolve);
    res.on('error', reject);
    res.on('aborted', () => reject(timeout('ECONNRESET', 'the response was cut short')));
  });
  let bytes = Buffer.concat(chunks);
  const encoding = String(res.headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
  if (encoding === 'gzip' || encoding === 'x-gzip' || encoding === 'deflate' || encoding === 'br') {
    const zlib = await import('node:zlib');
    bytes =
      encoding === 'br'
        ? zlib.brotliDecompressSync(bytes)
        : encoding === 'deflate'
          ? zlib.inflateSync(bytes)
          : zlib.gunzipSync(bytes);
  } else if (encoding !== '' && encoding !== 'identity')
    throw new TypeError(`fetch: unsupported content-encoding ${encoding}`);
  return { res, bytes };
}

/**
 * `fetch(url, init)` over `node:http(s)`: the SDK's transport and log reader take it as their `fetch`
 * ({@link OvertClientOptions.fetch}). Rejects with `TypeError('fetch failed', {cause})` when no response comes.
 */
export async function httpFetch(input: string, init: HttpFetchInit = {}): Promise<HttpFetchResponse> {
  let url = new URL(input);
  let method = (init.method ?? 'GET').toUpperCase();
  let headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
  let body = typeof init.body === 'string' ? new TextEncoder().encode(init.body) : init.body;
  if (body !== undefined && (method === 'GET' || method === 'HEAD'))
    throw new TypeError('fetch: a GET or HEAD request cannot have a body');
  for (let redirects = 0; ; redirects++) {
    let res: IncomingMessage;
    let bytes: Buffer;
    try {
      ({ res, bytes } = await once(url, method, headers, body));
    } catch (e) {
      throw failed(e);
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location !== undefined) {
      if (redirects >= MAX_REDIRECTS) throw failed(new Error('redirect count exceeded'));
      let next: URL;
      try {
        next = new URL(location, url);
      } catch (e) {
        throw failed(e);
      }
      if (
        (status === 303 && method !== 'HEAD') ||
        ((status === 301 || status === 302) && method === 'POST')
      ) {
        method = 'GET';
        body = undefined;
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !BODY_HEADERS.includes(k)));
      }
      if (next.origin !== url.origin) {
        const { authorization: _dropped, ...rest } = headers;
        headers = rest;
      }
      url = next;
      continue;
    }
    const finalUrl = url.href;
    const view = bytes;
    return {
      status,
      ok: status >= 200 && status <= 299,
      url: finalUrl,
      headers: {
        get(name: string): string | null {
          const v = res.headers[name.toLowerCase()];
          if (v === undefined) return null;
          return Array.isArray(v) ? v.join(', ') : v;
        },
      },
      arrayBuffer: async () =>
        view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength) as ArrayBuffer,
      text: async () => view.toString('utf8'),
    };
  }
}
