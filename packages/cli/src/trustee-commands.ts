/**
 * `overt trustee serve|review|approve|deny|shred`: runs a trustee daemon, and a trustee's operator reviews access
 * requests, decides them and shreds an epoch's share through the local operator API of the running daemon
 * (docs/spec/access.md §6, after-release.md §6; cli.md §8).
 *
 *   overt trustee init    --data DIR --index I [--passphrase-file F]
 *   overt trustee serve   --data DIR --relay URL [--index I] [--port N] [--host H] [--passphrase-file F]
 *   overt trustee review  (--data DIR | --url URL --token-file FILE) [--all]
 *   overt trustee approve REQUEST_ID (--data DIR | …) [--reason TEXT]
 *   overt trustee deny    REQUEST_ID (--data DIR | …) [--reason TEXT]
 *   overt trustee extend  REQUEST_ID (--approve | --deny) (--data DIR | …) [--number N] [--reason TEXT]
 *   overt trustee shred   --epoch E --yes (--data DIR | …)
 *
 * With --data the API's URL is read from DIR/api.url and its bearer token from DIR/api.token (both written by
 * `overt trustee serve`). The confidential details are printed to the operator's terminal only; they are never
 * written to a file or a log by this command.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Command,
  type CommandContext,
  EXIT_FAILED,
  EXIT_OK,
  emit,
  fileReason,
  intOption,
  networkReason,
  type OptionSpec,
  optionalString,
  requireString,
  UnavailableError,
  UsageError,
} from './command.js';
import { logLevel, serviceLogger } from './service-log.js';

export const API_URL_FILE = 'api.url';
export const API_TOKEN_FILE = 'api.token';

const CONNECTION: Readonly<Record<string, OptionSpec>> = {
  data: {
    type: 'string',
    value: 'DIR',
    description: "the trustee daemon's data directory (reads api.url and api.token)",
  },
  url: {
    type: 'string',
    value: 'URL',
    description: 'the operator API URL, e.g. http://127.0.0.1:7300 (instead of --data)',
  },
  'token-file': {
    type: 'string',
    value: 'FILE',
    description: 'file holding the API bearer token (with --url)',
  },
};

/** A trustee daemon's operator API: its URL and bearer token. */
export interface Api {
  readonly url: string;
  readonly token: string;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new UsageError(`cannot read the ${what} ${path}: ${fileReason(e)}`);
  }
}

/** The operator API to talk to, from --data or --url/--token-file. @throws UsageError. */
export function apiOf(ctx: CommandContext): Api {
  const data = optionalString(ctx, 'data');
  const url = optionalString(ctx, 'url');
  const tokenFile = optionalString(ctx, 'token-file');
  if (data !== undefined && (url !== undefined || tokenFile !== undefined))
    throw new UsageError('give either --data or --url with --token-file, not both');
  if (data !== undefined) return trusteeApiAt(data);
  if (url !== undefined && tokenFile !== undefined)
    return checkedApi({ url, token: readText(tokenFile, 'token file') });
  throw new UsageError('--data DIR (or --url URL with --token-file FILE) is required');
}

/** The operator API of the trustee daemon whose data directory is `data` (api.url, api.token). @throws UsageError. */
export function trusteeApiAt(data: string): Api {
  return checkedApi({
    url: readText(join(data, API_URL_FILE), 'API URL file (is the trustee daemon running?)'),
    token: readText(join(data, API_TOKEN_FILE), 'API token file'),
  });
}

function checkedApi(api: Api): Api {
  let parsed: URL;
  try {
    parsed = new URL(api.url);
  } catch {
    throw new UsageError(`the API URL ${JSON.stringify(api.url.slice(0, 100))} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new UsageError('the API URL must be http:// or https://');
  if (!/^[0-9a-f]{64}$/.test(api.token)) throw new UsageError('the API token is not 64 hex digits');
  return { url: api.url.replace(/\/+$/, ''), token: api.token };
}

/** A problem+json answer of the API: exit 1 with its code and check. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly check: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

async function call(api: Api, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${api.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (e) {
    throw new UnavailableError(
      `cannot reach the trustee API at ${api.url}: ${networkReason(e) ?? 'unreachable'}`,
    );
  }
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    throw new UnavailableError(`the trustee API at ${api.url} answered ${res.status} without JSON`);
  }
  if (res.ok) return json;
  const p = (json ?? {}) as { code?: unknown; check?: unknown; title?: unknown; detail?: unknown };
  const code = typeof p.code === 'string' ? p.code : `HTTP_${res.status}`;
  const check = typeof p.check === 'string' ? p.check : undefined;
  const text =
    typeof p.title === 'string' ? p.title : typeof p.detail === 'string' ? p.detail : `HTTP ${res.status}`;
  if (res.status === 401)
    throw new ApiProblem(401, code, check, 'the API token was refused (is it this daemon’s api.token?)');
  throw new ApiProblem(res.status, code, check, text);
}

/** The requests the daemon lists (`trustee review`): pending ones, or with `all` executed ones too. */
export async function trusteeRequests(api: Api, all = false): Promise<Item[]> {
  return ((await call(api, 'GET', `/v1/requests${all ? '?all=1' : ''}`)) as { requests: Item[] }).requests;
}

/** Signs and submits this trustee's decision (`trustee approve|deny`). @throws ApiProblem, UnavailableError. */
export async function trusteeDecide(
  api: Api,
  requestId: string,
  verdict: 'approve' | 'deny',
  reason: string,
): Promise<{ requestId: string; verdict: string; index: number }> {
  return (await call(api, 'POST', `/v1/requests/${requestId}/decision`, { verdict, reason })) as {
    requestId: string;
    verdict: string;
    index: number;
  };
}

function failed(ctx: CommandContext, e: ApiProblem): number {
  const where = e.check === undefined ? e.code : `${e.code}, ${e.check}`;
  if (ctx.json)
    emit(
      ctx,
      {
        ok: false,
        error: { kind: 'api', status: e.status, code: e.code, check: e.check, message: e.message },
      },
      '',
    );
  ctx.io.stderr(`overt: ${e.message} (${where})\n`);
  return EXIT_FAILED;
}

/** A request as the operator API lists it (GET /v1/requests). */
export interface Item {
  requestId: string;
  index: number;
  status: string;
  requesterId: string;
  valid: boolean;
  invalid?: string;
  unreadable?: string;
  decision?: string;
  request?: {
    requesterName: string;
    legalBasis: string;
    subjects: string[];
    window: { from: number; until: number };
    conversations: string[];
    maxEnvelopes: number;
    sealUntil: number;
  };
  confidential?: { justification: string; caseReference: string };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Replaces C0/C1 controls and bidi overrides: a request's text must not drive the terminal or reorder lines. */
function clean(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    const bad =
      c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069);
    out += bad ? '?' : ch;
  }
  return out;
}

/** The human form of one request. Printable characters only: a request's text cannot move the cursor. */
export function describeItem(x: Item): string {
  const lines = [`${x.requestId}  ${x.status}  log index ${x.index}  requester ${clean(x.requesterId)}`];
  if (!x.valid) {
    lines.push(`  INVALID under the policy in force (${x.invalid}): it cannot be decided`);
    return lines.join('\n');
  }
  const r = x.request!;
  lines.push(`  requester name: ${clean(r.requesterName)}`);
  lines.push(`  legal basis:    ${clean(r.legalBasis)}`);
  lines.push(`  subjects:       ${r.subjects.map(clean).join(', ')}`);
  lines.push(`  window:         ${iso(r.window.from)} → ${iso(r.window.until)}`);
  lines.push(`  conversations:  ${r.conversations.length === 0 ? 'any' : r.conversations.join(', ')}`);
  lines.push(`  max envelopes:  ${r.maxEnvelopes}`);
  lines.push(`  sealed until:   ${iso(r.sealUntil)}`);
  if (x.confidential !== undefined) {
    lines.push(`  justification:  ${clean(x.confidential.justification)}`);
    lines.push(`  case reference: ${clean(x.confidential.caseReference) || '-'}`);
  } else
    lines.push(
      `  confidential part: UNREADABLE (${x.unreadable}); do not approve blind (deny, or ask the requester)`,
    );
  lines.push(`  your decision:  ${x.decision ?? 'none'}`);
  return lines.join('\n');
}

const review: Command = {
  path: ['trustee', 'review'],
  summary: 'list the access requests awaiting this trustee, with their confidential details',
  positionals: [],
  options: {
    ...CONNECTION,
    all: { type: 'boolean', description: 'list executed requests too, not only pending ones' },
  },
  details:
    'Asks the running trustee daemon (GET /v1/requests). Each request shows its public part from the log and\n' +
    'the justification and case reference the daemon decrypted with its own key. A request whose confidential\n' +
    'part does not open is shown as UNREADABLE: approving it is refused. Open extension proposals follow\n' +
    '(GET /v1/extensions), each checked against the daemon’s view of the log; decide them with `trustee extend`.',
  examples: [
    'overt trustee review --data ./data/trustee1',
    'overt trustee review --url http://127.0.0.1:7300 --token-file ./data/trustee1/api.token --json',
  ],
  async run(ctx) {
    const api = apiOf(ctx);
    try {
      const out = { requests: await trusteeRequests(api, ctx.values.all === true) };
      // Open extension proposals (after-release.md §2), each checked by the daemon against its view.
      // A daemon without the extension review (an older one) answers 404: its requests are listed alone.
      let ext: { extensions: ExtensionItem[] } = { extensions: [] };
      try {
        ext = (await call(api, 'GET', '/v1/extensions')) as { extensions: ExtensionItem[] };
      } catch (e) {
        if (!(e instanceof ApiProblem && e.status === 404)) throw e;
      }
      const human = [
        out.requests.length === 0
          ? 'no requests awaiting a decision'
          : out.requests.map(describeItem).join('\n\n'),
        ...ext.extensions.map(describeExtension),
      ].join('\n\n');
      emit(ctx, { ok: true, requests: out.requests, extensions: ext.extensions }, human);
      return EXIT_OK;
    } catch (e) {
      if (e instanceof ApiProblem) return failed(ctx, e);
      throw e;
    }
  },
};

function decide(verdict: 'approve' | 'deny'): Command {
  return {
    path: ['trustee', verdict],
    summary:
      verdict === 'approve'
        ? 'approve an access request: sign the decision and submit it to the relay'
        : 'deny an access request: sign the denial and submit it to the relay',
    positionals: ['REQUEST_ID'],
    options: {
      ...CONNECTION,
      reason: {
        type: 'string',
        value: 'TEXT',
        description: 'a reason, logged publicly with the decision (≤ 1024 bytes)',
      },
    },
    details:
      'REQUEST_ID is the id `overt trustee review` prints (base64url). The daemon signs the decision with the\n' +
      'trustee key in its vault and submits it; the decision goes on the public log. One decision per request:\n' +
      'the same verdict again re-submits it, the other verdict is refused.',
    examples: [
      `overt trustee ${verdict} d3d3d3d3d3d3d3d3d3d3dw --data ./data/trustee1${verdict === 'deny' ? " --reason 'not proportionate'" : ''}`,
    ],
    async run(ctx) {
      const id = ctx.positionals[0]!;
      if (!/^[A-Za-z0-9_-]{22}$/.test(id))
        throw new UsageError('REQUEST_ID must be the 22-character id that review prints');
      const reason = optionalString(ctx, 'reason') ?? '';
      if (new TextEncoder().encode(reason).length > 1024)
        throw new UsageError('--reason is longer than 1024 bytes');
      const api = apiOf(ctx);
      try {
        const out = await trusteeDecide(api, id, verdict, reason);
        emit(
          ctx,
          { ok: true, ...out },
          `${out.verdict === 'approve' ? 'approved' : 'denied'} ${out.requestId} (log index ${out.index})`,
        );
        return EXIT_OK;
      } catch (e) {
        if (e instanceof ApiProblem) return failed(ctx, e);
        throw e;
      }
    },
  };
}

/** An open extension proposal as the daemon lists it (GET /v1/extensions). */
interface ExtensionItem {
  readonly requestId: string;
  readonly number: number;
  readonly reason: string;
  readonly oldSealUntil: number;
  readonly newSealUntil: number;
  readonly issuedAt: number;
  readonly signers: readonly number[];
  readonly valid: boolean;
  readonly invalid?: string;
  readonly decision?: string;
}

function describeExtension(x: ExtensionItem): string {
  return [
    `extension ${x.number} of request ${x.requestId}${x.valid ? '' : `  INVALID (${x.invalid ?? 'unknown'})`}`,
    `  sealed until ${iso(x.oldSealUntil)} -> ${iso(x.newSealUntil)} (asked ${iso(x.issuedAt)})`,
    `  reason: ${clean(x.reason)}`,
    `  signed by trustees: ${x.signers.length === 0 ? 'none yet' : x.signers.join(', ')}${
      x.decision !== undefined ? `; your decision: ${x.decision}` : ''
    }`,
  ].join('\n');
}

const extend: Command = {
  path: ['trustee', 'extend'],
  summary: "approve (sign) or deny a requester's proposal to extend a request's seal",
  positionals: ['REQUEST_ID'],
  options: {
    ...CONNECTION,
    approve: { type: 'boolean', description: 'sign the extension statement' },
    deny: { type: 'boolean', description: 'refuse it (recorded by the daemon; nothing is signed)' },
    number: {
      type: 'string',
      value: 'N',
      description: 'the extension number (default: the open proposal of the request)',
    },
    reason: { type: 'string', value: 'TEXT', description: 'a note kept by the daemon (≤ 1024 characters)' },
  },
  details:
    'The daemon checks the statement the relay stores against its own view of the log (the request, the chain\n' +
    'of logged extensions, the policy’s limits, the deadline not past) and signs it with the trustee key; the\n' +
    'relay logs the extension once k trustees have signed, before the current seal date. A denial signs\n' +
    'nothing: an extension is k signatures or nothing (after-release.md §2).',
  examples: [
    'overt trustee extend d3d3d3d3d3d3d3d3d3d3dw --approve --data ./data/trustee1',
    "overt trustee extend d3d3d3d3d3d3d3d3d3d3dw --deny --reason 'no new facts' --data ./data/trustee2 --json",
  ],
  async run(ctx) {
    const id = ctx.positionals[0]!;
    if (!/^[A-Za-z0-9_-]{22}$/.test(id))
      throw new UsageError('REQUEST_ID must be the 22-character id that review prints');
    const approve = ctx.values.approve === true;
    if (approve === (ctx.values.deny === true))
      throw new UsageError('give exactly one of --approve and --deny');
    const reason = optionalString(ctx, 'reason') ?? '';
    if (reason.length > 1024) throw new UsageError('--reason is longer than 1024 characters');
    let number = intOption(ctx, 'number', 1, 255);
    const api = apiOf(ctx);
    try {
      if (number === undefined) {
        const open = (
          (await call(api, 'GET', '/v1/extensions')) as { extensions: ExtensionItem[] }
        ).extensions
          .filter((x) => x.requestId === id)
          .map((x) => x.number);
        if (open.length === 0) throw new UsageError(`no open extension proposal of request ${id}`);
        number = Math.max(...open);
      }
      const out = (await call(api, 'POST', `/v1/extensions/${id}/decision`, {
        approve,
        number,
        ...(reason !== '' ? { reason } : {}),
      })) as { requestId: string; number: number; verdict: string; signers?: number; index?: number };
      emit(
        ctx,
        { ok: true, ...out },
        out.verdict === 'deny'
          ? `denied extension ${out.number} of ${out.requestId} (nothing signed)`
          : `signed extension ${out.number} of ${out.requestId}: ${out.signers ?? '?'} signature(s)${
              out.index !== undefined ? `, logged at index ${out.index}` : ', not logged yet (k needed)'
            }`,
      );
      return EXIT_OK;
    } catch (e) {
      if (e instanceof ApiProblem) return failed(ctx, e);
      throw e;
    }
  },
};

const init: Command = {
  path: ['trustee', 'init'],
  summary:
    "create a trustee's encrypted vault and keys on this machine and print the public keys for the policy",
  positionals: [],
  options: {
    data: {
      type: 'string',
      value: 'DIR',
      description: 'data directory to create (mode 0700): vault.sqlite, identity.json',
    },
    index: {
      type: 'string',
      value: 'I',
      description: "this trustee's index in the organisation's policy (1..255)",
    },
    'passphrase-file': {
      type: 'string',
      value: 'F',
      description: 'file whose first line is the vault passphrase (else OVERT_TRUSTEE_PASSPHRASE/_VAULT_KEY)',
    },
  },
  details:
    'Each trustee runs this on its own machine before the organisation writes its policy: it makes the vault\n' +
    '(sealed under the passphrase with Argon2id, or the raw key in OVERT_TRUSTEE_VAULT_KEY), the Ed25519 key the\n' +
    'trustee signs decisions, releases and epoch keys with, and the X25519 key confidential parts and DKG shares are\n' +
    'sealed to; it prints the two public keys to hand to the org admin. No secret leaves the vault. An existing\n' +
    'vault is opened with the passphrase and its keys printed again (the index must match). Then: `overt trustee\n' +
    'serve --data DIR --relay URL` once the policy naming these keys is on the log.',
  examples: [
    'overt trustee init --data ./trustee1 --index 1 --passphrase-file ./trustee1.pass',
    'OVERT_TRUSTEE_PASSPHRASE=… overt trustee init --data ./trustee2 --index 2 --json',
  ],
  async run(ctx) {
    const dataDir = requireString(ctx, 'data');
    const index = intOption(ctx, 'index', 1, 255);
    if (index === undefined) throw new UsageError('--index is required (1..255)');
    const passphraseFile = optionalString(ctx, 'passphrase-file');
    if (passphraseFile !== undefined) readText(passphraseFile, 'passphrase file');
    const { TrusteeVault, vaultKeySource, isTrusteeError } = await import('@overt/trustee');
    let identity: { index: number; signingKey: string; hpkeKey: string };
    try {
      const vault = await TrusteeVault.open({
        dataDir,
        key: vaultKeySource(ctx.io.env ?? process.env, passphraseFile),
        index,
      });
      identity = vault.identity;
      vault.close();
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const code = isTrusteeError(e) ? e.code : 'STARTUP';
      const check = isTrusteeError(e) ? e.check : undefined;
      emit(ctx, { ok: false, error: { kind: 'trustee', code, check, message } }, '');
      ctx.io.stderr(`overt: ${message}${check === undefined ? '' : ` (${code}, ${check})`}\n`);
      return EXIT_FAILED;
    }
    emit(
      ctx,
      {
        ok: true,
        dataDir,
        index: identity.index,
        signingKey: identity.signingKey,
        hpkeKey: identity.hpkeKey,
      },
      `trustee ${identity.index} vault in ${dataDir}\n` +
        `signing key ${identity.signingKey}\n` +
        `hpke key    ${identity.hpkeKey}\n` +
        'Hand both public keys and the index to the org admin for the policy; then run\n' +
        `  overt trustee serve --data ${dataDir} --relay URL`,
    );
    return EXIT_OK;
  },
};

const serve: Command = {
  path: ['trustee', 'serve'],
  summary: 'run a trustee daemon: vault, key ceremonies, request review and the release rule',
  positionals: [],
  options: {
    data: {
      type: 'string',
      value: 'DIR',
      description:
        'data directory (mode 0700): vault.sqlite, access.sqlite, identity.json, api.token, api.url',
    },
    relay: {
      type: 'string',
      value: 'URL',
      description: "the organisation's relay, e.g. http://127.0.0.1:8420",
    },
    index: {
      type: 'string',
      value: 'I',
      description: "this trustee's index in the policy (needed on first start; then from identity.json)",
    },
    port: {
      type: 'string',
      value: 'N',
      description: 'operator API port on 127.0.0.1; 0 (default) picks a free one (printed, in api.url)',
    },
    host: { type: 'string', value: 'HOST', description: 'interface of the operator API (default 127.0.0.1)' },
    'passphrase-file': {
      type: 'string',
      value: 'F',
      description: 'file whose first line is the vault passphrase (else OVERT_TRUSTEE_PASSPHRASE/_VAULT_KEY)',
    },
    'unseal-grace': {
      type: 'string',
      value: 'MS',
      description: "wait MS after a seal date for the relay's unseal before publishing one (default 60000)",
    },
  },
  details:
    'Opens (or creates) the encrypted vault in DIR with the passphrase, pins the log key, witnesses, org key\n' +
    "and the relay's execution key from the relay's /.well-known/overt on first start (refusing a later start\n" +
    'whose anchors differ), follows the log, runs the key ceremonies of the policy that names this trustee,\n' +
    'serves the operator API that `overt trustee review|approve|deny --data DIR` use, and releases shares only\n' +
    'under the release rule for requests this trustee approved. Stops cleanly on SIGINT or SIGTERM.',
  examples: [
    'overt trustee serve --data ./data/trustee1 --relay http://127.0.0.1:8420 --index 1 \\\n' +
      '    --passphrase-file ./trustee1.pass',
    'OVERT_TRUSTEE_PASSPHRASE=… overt trustee serve --data ./data/trustee1 --relay https://relay.example.org',
  ],
  async run(ctx) {
    const dataDir = requireString(ctx, 'data');
    const relay = requireString(ctx, 'relay');
    let relayUrl: URL;
    try {
      relayUrl = new URL(relay);
    } catch {
      throw new UsageError(`--relay ${JSON.stringify(relay.slice(0, 100))} is not a URL`);
    }
    if (relayUrl.protocol !== 'http:' && relayUrl.protocol !== 'https:')
      throw new UsageError('--relay must be an http:// or https:// URL');
    const index = intOption(ctx, 'index', 1, 255);
    const port = intOption(ctx, 'port', 0, 65535) ?? 0;
    const host = optionalString(ctx, 'host');
    const passphraseFile = optionalString(ctx, 'passphrase-file');
    const unsealGraceMs = intOption(ctx, 'unseal-grace', 0, 365 * 86_400_000);
    const log = serviceLogger('trustee', logLevel(ctx));
    const { startTrustee, vaultKeySource, isTrusteeError } = await import('@overt/trustee');
    const failure = (e: unknown): number => {
      const message = e instanceof Error ? e.message : String(e);
      const code = isTrusteeError(e) ? e.code : 'STARTUP';
      const check = isTrusteeError(e) ? e.check : undefined;
      emit(ctx, { ok: false, error: { kind: 'trustee', code, check, message } }, '');
      ctx.io.stderr(`overt: ${message}${check === undefined ? '' : ` (${code}, ${check})`}\n`);
      return EXIT_FAILED;
    };
    let running: Awaited<ReturnType<typeof startTrustee>>;
    try {
      if (passphraseFile !== undefined) readText(passphraseFile, 'passphrase file');
      const key = vaultKeySource(process.env, passphraseFile);
      running = await startTrustee({
        dataDir,
        relayUrl: relay.replace(/\/+$/, ''),
        key,
        port,
        ...(index !== undefined ? { index } : {}),
        ...(host !== undefined ? { host } : {}),
        ...(unsealGraceMs !== undefined ? { unsealGraceMs } : {}),
        logLine: (line) => log.warn(line),
      });
    } catch (e) {
      // A relay that does not answer (its /.well-known/overt on first start): one line, exit 4 (cli.md §4.1).
      const reason = isTrusteeError(e) ? undefined : networkReason(e);
      if (reason !== undefined)
        throw new UnavailableError(`cannot reach the relay at ${relayUrl.origin}: ${reason}`);
      return failure(e);
    }
    emit(
      ctx,
      {
        event: 'listening',
        index: running.index,
        url: running.url,
        signingKey: running.vault.identity.signingKey,
        hpkeKey: running.vault.identity.hpkeKey,
        access: running.access !== undefined,
      },
      `trustee ${running.index} listening on ${running.url}\n` +
        `signing key ${running.vault.identity.signingKey}\n` +
        (running.access !== undefined
          ? 'access half running: review with `overt trustee review --data DIR`'
          : "access half NOT running: the relay's /.well-known/overt has no accessKey"),
    );
    log.info({ index: running.index, url: running.url, access: running.access !== undefined }, 'listening');
    await ctx.io.stopped;
    await running.close();
    log.info('stopped');
    emit(ctx, { event: 'stopped' }, 'trustee stopped');
    return EXIT_OK;
  },
};

const shred: Command = {
  path: ['trustee', 'shred'],
  summary: "shred this trustee's share of an epoch: erase it for good and log a signed shred statement",
  positionals: [],
  options: {
    ...CONNECTION,
    epoch: { type: 'string', value: 'E', description: 'the epoch number (calendar months since 1970-01)' },
    yes: { type: 'boolean', description: 'confirm: the share is erased and cannot be recovered' },
  },
  details:
    'The daemon deletes its share of epoch E from its vault and records the epoch as shredded in the same\n' +
    'transaction, signs a shred statement and posts it to the relay (again on every poll until the relay has\n' +
    'logged it). Once n − k + 1 trustees have shredded E, nobody can release a share for any envelope of E again\n' +
    'and the relay deletes its envelopes. The daemon also does this by itself once E ended and the retention of the\n' +
    'policy in force has passed. Shredding is irreversible, so --yes is required. Shredding an epoch again prints\n' +
    'the first record. Epoch E of calendar months is 12·(year − 1970) + month − 1 (2026-12 is 683).',
  examples: [
    'overt trustee shred --epoch 683 --yes --data ./data/trustee1',
    'overt trustee shred --epoch 683 --yes --data ./data/trustee1 --json',
  ],
  async run(ctx) {
    const epoch = intOption(ctx, 'epoch', 0, 0xffffffff);
    if (epoch === undefined) throw new UsageError('--epoch E is required');
    if (ctx.values.yes !== true)
      throw new UsageError(
        `shredding epoch ${epoch} erases this trustee's share for good: add --yes to confirm`,
      );
    const api = apiOf(ctx);
    try {
      const out = (await call(api, 'POST', '/v1/shreds', { epoch })) as {
        epoch: number;
        at: number;
        logIndex: number | null;
        created: boolean;
      };
      const logged =
        out.logIndex === null
          ? 'the relay has not logged the statement yet; the daemon keeps posting it'
          : `log index ${out.logIndex}`;
      emit(
        ctx,
        { ok: true, ...out },
        `${out.created ? 'shredded' : 'already shredded'} epoch ${out.epoch} at ${iso(out.at)} (${logged})`,
      );
      return EXIT_OK;
    } catch (e) {
      if (e instanceof ApiProblem) return failed(ctx, e);
      throw e;
    }
  },
};

export const trusteeCommands: readonly Command[] = [
  init,
  serve,
  review,
  decide('approve'),
  decide('deny'),
  extend,
  shred,
];
