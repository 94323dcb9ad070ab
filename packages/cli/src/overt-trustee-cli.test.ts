// `overt trustee review|approve|deny` (docs/spec/cli.md §8) against a local operator API serving the trustee's real
// access routes (Review over a real log view, a request sealed to the trustee with HPKE) behind a bearer token, as
// the daemon mounts them: the commands find the API through the data directory, print the confidential details,
// submit signed decisions, and map every failure to its exit status.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policyEntry, sealConfidential, toBase64Url, verifyDecision, verifyRequest } from '@overt/core';
import { AccessStore, AccessTracker, accessRoutes, handleAccessRoute, Review } from '@overt/trustee';
import { afterEach, describe, expect, it } from 'vitest';
import {
  epochEntry,
  logKeys,
  makeOrg,
  ORIGIN,
  opening,
  orgKey,
  requestEntry,
  signedRequest,
  TestRelay,
  View,
  vaultOf,
} from '../../trustee/test/access-fixtures.js';
import { main } from './main.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const TOKEN = 'ab'.repeat(32);

async function daemon() {
  const org = await makeOrg();
  const view = new View();
  view.append(policyEntry(org.policy.signed), epochEntry(org));
  const signed = signedRequest(org);
  const req = verifyRequest(signed, org.policy);
  view.append(requestEntry(signed));
  const store = new AccessStore(':memory:');
  const tracker = new AccessTracker(store, { orgKey: orgKey.publicKey, log: { origin: ORIGIN, logKeys } });
  for (const [i, e] of view.entries.entries()) tracker.onEntry(i, e);
  const relay = new TestRelay(
    org,
    () => req,
    () => new Uint8Array(0),
    () => view.entries,
  );
  relay.sealed.set(
    Buffer.from(req.request.requestId).toString('hex'),
    await sealConfidential(org.hpke[0]!.publicKey, 1, req, opening()),
  );
  const routes = accessRoutes(new Review({ vault: vaultOf(org, 1), tracker, store, relay }));
  const server: Server = createServer((rq, rs) => {
    let raw = '';
    rq.on('data', (d) => {
      raw += d;
    });
    rq.on('end', async () => {
      if (rq.headers.authorization !== `Bearer ${TOKEN}`) {
        rs.writeHead(401, { 'content-type': 'application/problem+json' });
        rs.end(JSON.stringify({ status: 401, code: 'UNAUTHORIZED', check: 'TRU-7' }));
        return;
      }
      const r = await handleAccessRoute(
        routes,
        rq.method ?? 'GET',
        rq.url ?? '/',
        raw === '' ? undefined : JSON.parse(raw),
      );
      rs.writeHead(r?.status ?? 404, { 'content-type': 'application/json' });
      rs.end(JSON.stringify(r?.body ?? { code: 'NOT_FOUND' }));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'overt-trustee-cli-'));
  writeFileSync(join(dir, 'api.url'), `${url}\n`);
  writeFileSync(join(dir, 'api.token'), `${TOKEN}\n`, { mode: 0o600 });
  cleanups.push(() => {
    server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { org, req, relay, dir, url, id: toBase64Url(req.request.requestId) };
}

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    stopped: new Promise(() => {}),
  });
  return { code, stdout, stderr };
}

describe('overt trustee review|approve|deny', () => {
  it('review prints the request with its decrypted justification; --json gives the same as data', async () => {
    const d = await daemon();
    const text = await run(['trustee', 'review', '--data', d.dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(d.id);
    expect(text.stdout).toContain('justification:  Suspected disclosure of client data.');
    expect(text.stdout).toContain('your decision:  none');
    const json = await run(['trustee', 'review', '--data', d.dir, '--json']);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({
      ok: true,
      requests: [{ requestId: d.id, confidential: { caseReference: 'II-42' } }],
    });
  });

  it('approve submits a signed approval; deny afterwards is refused with exit 1 (ACC-V3)', async () => {
    const d = await daemon();
    const a = await run(['trustee', 'approve', d.id, '--data', d.dir, '--reason', 'proportionate']);
    expect(a).toMatchObject({ code: 0 });
    expect(a.stdout).toContain(`approved ${d.id}`);
    expect(verifyDecision(d.relay.decisions[0]!, d.org.policy, d.req).decision).toMatchObject({
      trusteeIndex: 1,
      verdict: 'approve',
      reason: 'proportionate',
    });
    const deny = await run([
      'trustee',
      'deny',
      d.id,
      '--url',
      d.url,
      '--token-file',
      join(d.dir, 'api.token'),
      '--json',
    ]);
    expect(deny.code).toBe(1);
    expect(JSON.parse(deny.stdout)).toMatchObject({
      ok: false,
      error: { code: 'ACCESS_CONFLICT', check: 'ACC-V3' },
    });
    expect(deny.stderr).toContain('ACC-V3');
  });

  it('usage errors exit 2, a refused token 1, an unreachable API 4; --help shows an example', async () => {
    const d = await daemon();
    expect((await run(['trustee', 'review'])).code).toBe(2);
    expect((await run(['trustee', 'approve', 'not-an-id', '--data', d.dir])).code).toBe(2);
    expect((await run(['trustee', 'review', '--data', join(d.dir, 'missing')])).code).toBe(2);
    const badToken = join(d.dir, 'other.token');
    writeFileSync(badToken, 'cd'.repeat(32));
    const refused = await run(['trustee', 'review', '--url', d.url, '--token-file', badToken]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('token was refused');
    const down = await run(['trustee', 'review', '--url', 'http://127.0.0.1:1', '--token-file', badToken]);
    expect(down.code).toBe(4);
    const help = await run(['trustee', 'approve', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('overt trustee approve');
    expect(help.stdout).toContain('--data DIR');
  });
});

describe('overt trustee init', () => {
  it('makes the vault and prints its public keys; again with the same key it prints the same; another index or key is refused', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'overt-trustee-init-')), 'trustee2');
    cleanups.push(() => rmSync(join(dir, '..'), { recursive: true, force: true }));
    const env = { OVERT_TRUSTEE_VAULT_KEY: '5a'.repeat(32) };
    const init = async (argv: string[], e: Record<string, string> = env) => {
      let stdout = '';
      let stderr = '';
      const code = await main(['trustee', 'init', ...argv], {
        stdout: (t) => {
          stdout += t;
        },
        stderr: (t) => {
          stderr += t;
        },
        stopped: new Promise(() => {}),
        env: e,
      });
      return { code, stdout, stderr };
    };
    const first = await init(['--data', dir, '--index', '2', '--json']);
    expect(first.code).toBe(0);
    const made = JSON.parse(first.stdout);
    expect(made).toMatchObject({ ok: true, index: 2 });
    expect(Buffer.from(made.signingKey, 'base64')).toHaveLength(32);
    expect(Buffer.from(made.hpkeKey, 'base64')).toHaveLength(32);
    // Nothing secret in what it printed: only the two public keys and the index.
    expect(Object.keys(made).sort()).toEqual(['dataDir', 'hpkeKey', 'index', 'ok', 'signingKey']);
    const text = await init(['--data', dir, '--index', '2']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`signing key ${made.signingKey}`);
    expect(text.stdout).toContain(`hpke key    ${made.hpkeKey}`);
    // Another index for the same vault (TRU-5), another vault key (TRU-1): exit 1 with the check.
    const other = await init(['--data', dir, '--index', '3']);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('TRU-5');
    const wrongKey = await init(['--data', dir, '--index', '2'], {
      OVERT_TRUSTEE_VAULT_KEY: '6b'.repeat(32),
    });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain('TRU-1');
    // Usage: no index, no key source.
    expect((await init(['--data', dir])).code).toBe(2);
    const noKey = await init(['--data', join(dir, '..', 'x'), '--index', '1'], {});
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('TRU-2');
  });
});
