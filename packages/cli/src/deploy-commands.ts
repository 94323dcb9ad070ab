/**
 * A real deployment (docs/spec/start.md §4.4): `overt init` writes the relay's data directory for an organisation
 * from what its parties handed over, and `overt relay serve` runs that relay (with the log's sequencer) on its own
 * machine. The trustees (`overt trustee init|serve`) and the witnesses (`overt witness init|serve`) run elsewhere.
 *
 *   overt init --data DIR --org ID --trustee I:SIGNKEY:HPKEKEY[:NAME] … [--threshold K]
 *              --witness URL=VKEY … [--witness-quorum Q] (--requester ID:SIGNKEY:HPKEKEY[:NAME] | --new-requester ID[:NAME]) …
 *              [--max-subjects N] [--max-window-days D] [--max-envelopes N] [--max-seal-days D] [--max-extensions N]
 *              [--retention-days D] [--admin-key FILE] [--admin-passphrase-file FILE] [--relay-url URL]
 *   overt relay serve --data DIR [--port N] [--host H] [--log-level L] [--db-schema S]   (DATABASE_URL: PostgreSQL)
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fromBase64, type RequesterEntry, toBase64 } from '@overt/core';
import {
  formatSignerKey,
  generateSignerKey,
  parseVerifierKey,
  SIGNATURE_TYPE_ED25519,
  type SignerKey,
} from '@overt/log';
import { sealAdminKey } from './admin-key.js';
import { readAdminKeyAt } from './chat-commands.js';
import {
  type Command,
  type CommandContext,
  EXIT_FAILED,
  EXIT_OK,
  emit,
  intOption,
  LockedError,
  optionalString,
  requireString,
  splitPair,
  stringList,
  UsageError,
} from './command.js';
import { ENV_ADMIN_PASSPHRASE, PASSPHRASE_MIN, passphraseFromFile } from './passphrase.js';
import { SERVICE_LOG_LEVELS, type ServiceLogLevel, serviceLogger } from './service-log.js';

const DAY = 86_400_000;
const ID_RE = /^[A-Za-z0-9._~-]{1,64}$/;

function key(option: string, text: string, length: number, what: string): Uint8Array {
  let b: Uint8Array;
  try {
    b = fromBase64(text);
  } catch {
    throw new UsageError(`--${option}: the ${what} is not base64`);
  }
  if (b.length !== length) throw new UsageError(`--${option}: the ${what} must be ${length} bytes`);
  return b;
}

/** `I:SIGNKEY:HPKEKEY[:NAME]` (what `overt trustee init` prints). @throws UsageError. */
export function parseTrustee(text: string): {
  index: number;
  signingKey: Uint8Array;
  encryptionKey: Uint8Array;
  name: string;
} {
  const [i, sk, hk, ...rest] = text.split(':');
  if (i === undefined || sk === undefined || hk === undefined)
    throw new UsageError(
      '--trustee takes INDEX:SIGNKEY:HPKEKEY[:NAME] (the keys `overt trustee init` prints)',
    );
  if (!/^[1-9][0-9]{0,2}$/.test(i) || Number(i) > 255)
    throw new UsageError(`--trustee ${i}: the index must be 1..255`);
  const index = Number(i);
  return {
    index,
    signingKey: key('trustee', sk, 32, 'signing key'),
    encryptionKey: key('trustee', hk, 32, 'HPKE key'),
    name: rest.length > 0 ? rest.join(':') : `Trustee ${index}`,
  };
}

/** `ID:SIGNKEY:HPKEKEY[:NAME]`. @throws UsageError. */
export function parseRequester(text: string): RequesterEntry {
  const [id, sk, hk, ...rest] = text.split(':');
  if (id === undefined || sk === undefined || hk === undefined || !ID_RE.test(id))
    throw new UsageError('--requester takes ID:SIGNKEY:HPKEKEY[:NAME] (ID: 1–64 of A-Z a-z 0-9 . _ ~ -)');
  return {
    id,
    name: rest.length > 0 ? rest.join(':') : id,
    signingKey: key('requester', sk, 32, 'signing key'),
    encryptionKey: key('requester', hk, 32, 'HPKE key'),
  };
}

function isVkey(text: string): boolean {
  try {
    return parseVerifierKey(text).type === 0x04;
  } catch {
    return false;
  }
}

/** `URL=VKEY` of a witness (its cosignature key, type 0x04). @throws UsageError. */
export function parseWitness(text: string): { url: string; vkey: string } {
  const [url, vkey] = splitPair('witness', text, isVkey);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--witness ${JSON.stringify(url.slice(0, 100))} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UsageError('--witness: the URL must be http:// or https://');
  return { url: url.replace(/\/+$/, ''), vkey };
}

/** A new admin key's passphrase: --admin-passphrase-file, $OVERT_ADMIN_PASSPHRASE, or the terminal (twice). */
async function newAdminPassphrase(ctx: CommandContext): Promise<string> {
  const check = (p: string) => {
    if ([...p].length < PASSPHRASE_MIN)
      throw new UsageError(`the admin key's passphrase needs at least ${PASSPHRASE_MIN} characters`);
    return p;
  };
  const file = optionalString(ctx, 'admin-passphrase-file');
  if (file !== undefined) return check(await passphraseFromFile('admin-passphrase-file', file));
  const env = (ctx.io.env ?? process.env)[ENV_ADMIN_PASSPHRASE];
  if (env !== undefined && env !== '') return check(env);
  const read = ctx.io.readSecret;
  if (read === undefined)
    throw new LockedError(
      `the new admin key is sealed under a passphrase: pass --admin-passphrase-file FILE, set ${ENV_ADMIN_PASSPHRASE}, or run on a terminal`,
    );
  try {
    const first = check(await read('Passphrase for the new admin key: '));
    if ((await read('Repeat it: ')) !== first) throw new UsageError('the two passphrases differ');
    return first;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new LockedError('no passphrase given (cancelled)');
  }
}

/** The admin's signer key: the operator's (--admin-key, plain or sealed) or a new one; and whether it is new. */
async function adminKeyOf(
  ctx: CommandContext,
  org: string,
): Promise<{ key: SignerKey; path: string | undefined }> {
  const path = optionalString(ctx, 'admin-key');
  if (path === undefined) return { key: generateSignerKey(`${org}/admin`, SIGNATURE_TYPE_ED25519), path };
  return { key: await readAdminKeyAt(ctx, path), path };
}

function days(ctx: CommandContext, name: string, fallbackMs: number, max = 36_500): number {
  const d = intOption(ctx, name, 1, max);
  return d === undefined ? fallbackMs : d * DAY;
}

/**
 * `overt init` on a terminal without --org (start.md §4.4.4): asks for each choice in turn — the org, the directory,
 * the trustees' keys as `overt trustee init` printed them, k, the witnesses, the quorum, the requesters, the limits
 * and the retention (Enter keeps the default shown) — re-asking after an answer the same parser as the flags refuses,
 * and returns the options as if they had been given as flags. Cancelling (Ctrl-C, Ctrl-D) is a usage error.
 */
async function askInit(
  ctx: CommandContext,
  readLine: (prompt: string) => Promise<string>,
): Promise<CommandContext> {
  const out = ctx.io.stderr;
  const line = async (prompt: string): Promise<string> => {
    try {
      return (await readLine(prompt)).trim();
    } catch {
      throw new UsageError('cancelled');
    }
  };
  /** Asks until `check` accepts the answer (an empty answer is `fallback` when there is one). */
  const ask = async (prompt: string, check: (v: string) => void, fallback?: string): Promise<string> => {
    for (;;) {
      const v =
        (await line(fallback === undefined ? `${prompt}: ` : `${prompt} [${fallback}]: `)) || fallback;
      if (v === undefined || v === '') {
        out('  an answer is needed\n');
        continue;
      }
      try {
        check(v);
        return v;
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        out(`  ${e.message}\n`);
      }
    }
  };
  /** Asks for items until an empty line; at least `min`. */
  const list = async (prompt: string, check: (v: string) => void, min: number): Promise<string[]> => {
    const items: string[] = [];
    for (;;) {
      const v = await line(
        `${prompt} ${items.length + 1}${items.length >= min ? ' (empty line: done)' : ''}: `,
      );
      if (v === '') {
        if (items.length >= min) return items;
        out(`  at least ${min} needed\n`);
        continue;
      }
      try {
        check(v);
        items.push(v);
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        out(`  ${e.message}\n`);
      }
    }
  };
  const int = (name: string, min: number, max: number) => (v: string) => {
    if (!/^(0|[1-9][0-9]*)$/.test(v) || Number(v) < min || Number(v) > max)
      throw new UsageError(`${name} must be an integer from ${min} to ${max}`);
  };
  out('Setting up an organisation (docs/OPERATING.md). Enter keeps the [default].\n');
  const org = await ask('Organisation id (e.g. example.org)', (v) => {
    if (!/^[\x21-\x7e]{1,64}$/.test(v) || v.includes('+'))
      throw new UsageError('1 to 64 printable ASCII characters without "+"');
  });
  const data =
    optionalString(ctx, 'data') ??
    (await ask("The relay's data directory", () => undefined, './overt-relay'));
  const trustee = await list(
    'Trustee (INDEX:SIGNKEY:HPKEKEY[:NAME], from `overt trustee init`)',
    (v) => void parseTrustee(v),
    1,
  );
  const threshold = await ask(
    `Trustees needed (k of ${trustee.length})`,
    int('k', 1, trustee.length),
    String(Math.floor(trustee.length / 2) + 1),
  );
  const witness = await list('Witness (URL=VKEY, from `overt witness init`)', (v) => void parseWitness(v), 1);
  const quorum = await ask(
    `Witness quorum (of ${witness.length})`,
    int('the quorum', 1, witness.length),
    String(witness.length),
  );
  const requesters = await list(
    'Requester (ID:SIGNKEY:HPKEKEY[:NAME], or new:ID[:NAME] to make its key here)',
    (v) => {
      if (v.startsWith('new:')) {
        if (!ID_RE.test(v.slice(4).split(':')[0] ?? ''))
          throw new UsageError('new:ID needs an ID of A-Z a-z 0-9 . _ ~ -');
      } else parseRequester(v);
    },
    1,
  );
  const values: Record<string, string | boolean | string[] | undefined> = {
    ...ctx.values,
    org,
    data,
    trustee,
    threshold,
    witness,
    'witness-quorum': quorum,
    requester: requesters.filter((r) => !r.startsWith('new:')),
    'new-requester': requesters.filter((r) => r.startsWith('new:')).map((r) => r.slice(4)),
  };
  const numbers: [string, string, number, number, string][] = [
    ['max-subjects', 'Most subjects in one request', 1, 10_000, '10'],
    ['max-window-days', 'Longest time window of a request, in days', 1, 36_500, '92'],
    ['max-envelopes', 'Most envelopes one request may open', 1, 100_000_000, '100000'],
    ['max-seal-days', 'Longest seal, in days', 1, 36_500, '365'],
    ['max-extensions', 'Most seal extensions', 0, 255, '2'],
    ['retention-days', 'Days shares are kept after an epoch ends', 1, 36_500, '730'],
  ];
  for (const [name, prompt, min, max, fallback] of numbers)
    values[name] = optionalString(ctx, name) ?? (await ask(prompt, int(prompt, min, max), fallback));
  return { ...ctx, values };
}

const init: Command = {
  path: ['init', ''],
  summary: "set up a real organisation: the relay's data directory, the admin key and the signed policy",
  positionals: [],
  options: {
    data: { type: 'string', value: 'DIR', description: "the relay's data directory to create (mode 0700)" },
    org: { type: 'string', value: 'ID', description: 'the organisation id, e.g. example.org (no "+")' },
    trustee: {
      type: 'string',
      multiple: true,
      value: 'I:SIGNKEY:HPKEKEY[:NAME]',
      description: 'a trustee: its index and the public keys `overt trustee init` printed on its machine',
    },
    threshold: {
      type: 'string',
      value: 'K',
      description: 'trustees needed to release or make a key (default: a majority)',
    },
    witness: {
      type: 'string',
      multiple: true,
      value: 'URL=VKEY',
      description: 'a witness: where it serves and the vkey `overt witness init` printed',
    },
    'witness-quorum': {
      type: 'string',
      value: 'Q',
      description: 'cosignatures a checkpoint needs (default: all witnesses)',
    },
    requester: {
      type: 'string',
      multiple: true,
      value: 'ID:SIGNKEY:HPKEKEY[:NAME]',
      description: 'an authorised requester and its public keys',
    },
    'new-requester': {
      type: 'string',
      multiple: true,
      value: 'ID[:NAME]',
      description:
        'make a requester key here (DIR/requesters/ID.key, to hand over) and name it in the policy',
    },
    'max-subjects': { type: 'string', value: 'N', description: 'subjects per request (default 10)' },
    'max-window-days': { type: 'string', value: 'D', description: "a request's time window (default 92)" },
    'max-envelopes': { type: 'string', value: 'N', description: 'envelopes per request (default 100000)' },
    'max-seal-days': { type: 'string', value: 'D', description: 'longest seal (default 365)' },
    'max-extensions': { type: 'string', value: 'N', description: 'seal extensions per request (default 2)' },
    'retention-days': {
      type: 'string',
      value: 'D',
      description: 'shares kept after an epoch ends before shredding (default 730)',
    },
    'admin-key': {
      type: 'string',
      value: 'FILE',
      description: 'use this org admin key (plain or sealed) instead of making one in DIR/admin.key',
    },
    'admin-passphrase-file': {
      type: 'string',
      value: 'FILE',
      description: `the admin key's passphrase (else $${ENV_ADMIN_PASSPHRASE}, or asked twice on a terminal)`,
    },
    'relay-url': {
      type: 'string',
      value: 'URL',
      description:
        'where the relay will be reached, for the printed next steps (default http://127.0.0.1:8420)',
    },
  },
  details:
    'Run after the trustees ran `overt trustee init` and the witnesses `overt witness init` on their machines.\n' +
    'Writes DIR/overt.json, relay.json (witness URLs), policy.signed (the admin-signed policy, logged by the relay\n' +
    "at its first start), log/log.key and the relay's keys, and, unless --admin-key is given, DIR/admin.key: a new\n" +
    'admin key sealed under a passphrase (Argon2id). Move admin.key off the server: the relay needs only its public\n' +
    'half. Prints what each party does next. A directory already initialised is refused (INIT-1). On a terminal\n' +
    'without --org it asks for each choice in turn (Enter keeps the default shown).',
  examples: [
    'overt init      (on a terminal: asks for the org, the trustees, the witnesses, the requesters and the limits)',
    'overt init --data ./relay --org example.org --admin-passphrase-file ./admin.pass \\\n' +
      '    --trustee 1:<signkey>:<hpkekey>:Counsel --trustee 2:<…>:<…>:Ombudsman --trustee 3:<…>:<…>:DPO \\\n' +
      '    --threshold 2 --witness https://w1.example.net=w1.example.net+1a2b3c4d+BH… --new-requester police:Police',
  ],
  async run(given) {
    // On a terminal without --org: ask (askInit); the answers go through the same checks as flags.
    const ctx =
      optionalString(given, 'org') === undefined && given.io.readLine !== undefined
        ? await askInit(given, given.io.readLine)
        : given;
    const dataDir = requireString(ctx, 'data');
    if (existsSync(join(dataDir, 'overt.json')))
      throw new UsageError(
        `${dataDir} is already initialised (overt.json); run \`overt relay serve --data ${dataDir}\`, or init another --data [INIT-1]`,
      );
    const org = requireString(ctx, 'org');
    const trustees = stringList(ctx, 'trustee').map(parseTrustee);
    if (trustees.length === 0) throw new UsageError('give at least one --trustee I:SIGNKEY:HPKEKEY[:NAME]');
    const threshold = intOption(ctx, 'threshold', 1, 255) ?? Math.floor(trustees.length / 2) + 1;
    if (threshold > trustees.length)
      throw new UsageError(`--threshold ${threshold} is more than the ${trustees.length} trustees`);
    const witnesses = stringList(ctx, 'witness').map(parseWitness);
    if (witnesses.length === 0) throw new UsageError('give at least one --witness URL=VKEY');
    const quorum = intOption(ctx, 'witness-quorum', 1, witnesses.length) ?? witnesses.length;
    const requesters = stringList(ctx, 'requester').map(parseRequester);
    const newRequesters = stringList(ctx, 'new-requester').map((t) => {
      const [id, ...name] = t.split(':');
      if (id === undefined || !ID_RE.test(id))
        throw new UsageError('--new-requester takes ID[:NAME] (ID: 1–64 of A-Z a-z 0-9 . _ ~ -)');
      return { id, name: name.length > 0 ? name.join(':') : id };
    });
    if (requesters.length + newRequesters.length === 0)
      throw new UsageError('give at least one --requester or --new-requester');
    const limits = {
      maxSubjects: intOption(ctx, 'max-subjects', 1, 10_000) ?? 10,
      maxWindowMs: days(ctx, 'max-window-days', 92 * DAY),
      maxEnvelopes: intOption(ctx, 'max-envelopes', 1, 100_000_000) ?? 100_000,
      maxSealMs: days(ctx, 'max-seal-days', 365 * DAY),
      maxExtensions: intOption(ctx, 'max-extensions', 0, 255) ?? 2,
    };
    const retentionMs = days(ctx, 'retention-days', 730 * DAY);
    const relayUrl = (optionalString(ctx, 'relay-url') ?? 'http://127.0.0.1:8420').replace(/\/+$/, '');
    const admin = await adminKeyOf(ctx, org);
    // A new key's passphrase is asked before anything is written.
    const passphrase = admin.path === undefined ? await newAdminPassphrase(ctx) : undefined;
    const { initDeployment, isStandaloneError } = await import('@overt/up');
    let out: Awaited<ReturnType<typeof initDeployment>>;
    try {
      out = await initDeployment({
        dataDir,
        org,
        admin: admin.key.keyPair,
        trustees,
        threshold,
        witnesses,
        witnessQuorum: quorum,
        requesters,
        newRequesters,
        limits,
        retentionMs,
        now: Date.now(),
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const code = isStandaloneError(e) ? e.code : ((e as { code?: string }).code ?? 'INIT');
      emit(ctx, { ok: false, error: { kind: 'init', code, message } }, '');
      ctx.io.stderr(`overt init: ${message}\n`);
      return EXIT_FAILED;
    }
    let adminPath = admin.path === undefined ? undefined : resolve(admin.path);
    if (passphrase !== undefined) {
      adminPath = join(out.dataDir, 'admin.key');
      writeFileSync(adminPath, sealAdminKey(formatSignerKey(admin.key), { kind: 'passphrase', passphrase }), {
        mode: 0o600,
        flag: 'wx',
      });
    }
    const p = out.policy.policy;
    const logPair = `${out.origin}=${out.logVkey}`;
    const next = {
      witnesses: `overt witness serve --data DIR --port N --log ${logPair}`,
      relay: `overt relay serve --data ${dataDir} --port 8420   (DATABASE_URL=postgres://… for PostgreSQL)`,
      trustees: `overt trustee serve --data DIR --relay ${relayUrl}`,
      requesters: out.requesterKeyFiles.map(
        (r) => `hand ${r.path} to requester ${r.id} (overt request … --requester-key FILE)`,
      ),
      admin: `overt admin enrol --relay ${relayUrl} --admin-key ${adminPath} --user U --device D --device-key K`,
    };
    emit(
      ctx,
      {
        ok: true,
        dataDir: out.dataDir,
        org: out.org,
        origin: out.origin,
        logVkey: out.logVkey,
        adminKey: adminPath,
        adminKeyCreated: passphrase !== undefined,
        adminPublicKey: toBase64(admin.key.publicKey),
        policyHash: out.policyHash,
        policy: {
          trustees: p.trustees.map((t) => ({ index: t.index, name: t.name })),
          threshold: p.threshold,
          witnesses: p.witnesses.map((w) => w.name),
          witnessQuorum: p.witnessQuorum,
          requesters: p.requesters.map((r) => r.id),
          limits: p.limits,
          retentionMs: p.retentionMs,
        },
        requesterKeys: out.requesterKeyFiles,
        next,
      },
      [
        `Organisation ${out.org} set up in ${out.dataDir}`,
        `  policy       serial 1, hash ${out.policyHash} (logged by the relay at its first start)`,
        `  trustees     ${p.trustees.map((t) => `${t.index} ${t.name}`).join(', ')}; ${p.threshold} of ${p.trustees.length}`,
        `  witnesses    ${p.witnesses.map((w) => w.name).join(', ')}; quorum ${p.witnessQuorum}`,
        `  requesters   ${p.requesters.map((r) => r.id).join(', ')}`,
        `  limits       ${p.limits.maxSubjects} subjects, ${p.limits.maxWindowMs / DAY} days, ${p.limits.maxEnvelopes} envelopes, seal ${p.limits.maxSealMs / DAY} days, ${p.limits.maxExtensions} extensions; retention ${p.retentionMs / DAY} days`,
        `  log          origin ${out.origin}, vkey ${out.logVkey}`,
        `  admin key    ${adminPath}${passphrase !== undefined ? ' (new, sealed under your passphrase: move it off the server)' : ''}`,
        'Next:',
        `  witnesses:   ${next.witnesses}`,
        `  operator:    ${next.relay}`,
        `  trustees:    ${next.trustees}   (check the policy hash above in their status)`,
        ...next.requesters.map((r) => `  requesters:  ${r}`),
        `  users:       overt device init …, then ${next.admin}`,
      ].join('\n'),
    );
    return EXIT_OK;
  },
};

const relayServe: Command = {
  path: ['relay', 'serve'],
  summary: 'run the relay of a real deployment (with its log) from the directory `overt init` made',
  positionals: [],
  options: {
    data: { type: 'string', value: 'DIR', description: 'the data directory `overt init` made' },
    port: { type: 'string', value: 'N', description: 'TCP port (default 8420; 0 picks a free one)' },
    host: { type: 'string', value: 'HOST', description: 'interface to listen on (default 127.0.0.1)' },
    'log-level': {
      type: 'string',
      value: 'L',
      description:
        'structured log on stderr: debug|info|warn|error|silent (default info, or $OVERT_LOG_LEVEL)',
    },
    'db-schema': {
      type: 'string',
      value: 'S',
      description: "with DATABASE_URL: the relay's PostgreSQL schema (default overt; the log's is S_log)",
    },
  },
  details:
    'Storage is SQLite under DIR, or PostgreSQL when DATABASE_URL is set. The log runs in this process and asks\n' +
    'the witnesses of DIR/relay.json for cosignatures; the first start logs DIR/policy.signed. Serves the relay API,\n' +
    "the log's tiles under /log/, /.well-known/overt and GET /healthz. Logs JSON lines (pino) on stderr: one per\n" +
    'request (route pattern, status, ms; never ids or keys). Stops cleanly on SIGINT or SIGTERM (exit 0).',
  examples: [
    'overt relay serve --data ./relay --port 8420',
    'DATABASE_URL=postgres://overt@db/overt overt relay serve --data ./relay --host 0.0.0.0 --json',
  ],
  async run(ctx) {
    const dataDir = requireString(ctx, 'data');
    const port = intOption(ctx, 'port', 0, 65535) ?? 8420;
    const host = optionalString(ctx, 'host');
    const env = ctx.io.env ?? process.env;
    const level = optionalString(ctx, 'log-level') ?? (env.OVERT_LOG_LEVEL || 'info');
    if (!(SERVICE_LOG_LEVELS as readonly string[]).includes(level))
      throw new UsageError(`--log-level must be one of ${SERVICE_LOG_LEVELS.join(', ')}`);
    const schema = optionalString(ctx, 'db-schema');
    if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,40}$/.test(schema))
      throw new UsageError('--db-schema must be a lowercase identifier (a-z, 0-9, _)');
    const databaseUrl = env.DATABASE_URL || undefined;
    if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl))
      throw new UsageError('DATABASE_URL must be a postgres:// URL');
    const log = serviceLogger('relay', level as ServiceLogLevel);
    const { startRelayNode, isStandaloneError } = await import('@overt/up');
    let node: Awaited<ReturnType<typeof startRelayNode>>;
    try {
      node = await startRelayNode({
        dataDir,
        port,
        ...(host !== undefined ? { host } : {}),
        ...(databaseUrl !== undefined ? { databaseUrl } : {}),
        ...(schema !== undefined ? { schema } : {}),
        requestLog: (r) => {
          const fields = {
            method: r.method,
            route: r.route,
            status: r.status,
            ms: Math.round(r.ms * 10) / 10,
            ...(r.code !== undefined ? { code: r.code, check: r.check } : {}),
          };
          if (r.status >= 500) log.error(fields, 'request');
          else if (r.status >= 400) log.warn(fields, 'request');
          else log.info(fields, 'request');
        },
        onEvent: (e) => log.info(e, e.event),
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const code = isStandaloneError(e) ? e.code : ((e as { code?: string }).code ?? 'STARTUP');
      emit(ctx, { ok: false, error: { kind: 'relay', code, message } }, '');
      ctx.io.stderr(`overt relay serve: could not start: ${message}\n`);
      return EXIT_FAILED;
    }
    log.info(
      {
        url: node.url,
        org: node.wellKnown.org,
        storage: databaseUrl === undefined ? 'sqlite' : 'postgresql',
      },
      'listening',
    );
    emit(
      ctx,
      {
        event: 'listening',
        url: node.url,
        org: node.wellKnown.org,
        policy: {
          status: node.policy.status,
          serial: node.policy.record.serial,
          logIndex: node.policy.record.logIndex,
        },
        logVkey: node.wellKnown.log.vkey,
        storage: databaseUrl === undefined ? 'sqlite' : 'postgresql',
      },
      `relay of ${node.wellKnown.org} listening on ${node.url}\n` +
        `  policy serial ${node.policy.record.serial} ${node.policy.status} (log index ${node.policy.record.logIndex})\n` +
        `  well-known ${node.url}/.well-known/overt, health ${node.url}/healthz\n` +
        `  trustees: overt trustee serve --data DIR --relay ${node.url}`,
    );
    await ctx.io.stopped;
    log.info('stopping');
    await node.close();
    log.info('stopped');
    emit(ctx, { event: 'stopped' }, 'relay stopped');
    return EXIT_OK;
  },
};

export const deployCommands: readonly Command[] = [init, relayServe];
