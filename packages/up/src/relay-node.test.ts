/**
 * `overt init`'s directory and `overt relay serve`'s node in process (docs/spec/start.md §4.4): the policy is logged
 * at the first start and reused after (INIT-3), a different policy of the same serial is refused, a directory init
 * did not make or a malformed relay.json is refused before anything opens (INIT-2), init refuses an initialised
 * directory and a policy that does not validate before writing (INIT-1), and /healthz reports readiness (SVC-2) —
 * on SQLite, and on PostgreSQL when DATABASE_URL is set. The whole deployment with spawned processes is
 * packages/cli/src/overt-init-cli.test.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveDkgEncryptionKey, signingKeyFromSeed, signPolicy, verifyPolicy } from '@overt/core';
import { formatVerifierKey, generateSignerKey, SIGNATURE_TYPE_COSIGNATURE, verifierKeyOf } from '@overt/log';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '@overt/log/service';
import { afterAll, describe, expect, it } from 'vitest';
import { isStandaloneError } from './errors.js';
import { type InitOptions, initDeployment, POLICY_FILE, RELAY_CONFIG_FILE, readDeployment } from './init.js';
import { DEFAULT_LIMITS } from './policy.js';
import { startRelayNode } from './relay-node.js';

const tmp = mkdtempSync(join(tmpdir(), 'overt-relay-node-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const DAY = 86_400_000;
const admin = signingKeyFromSeed(new Uint8Array(32).fill(7));

async function options(dataDir: string): Promise<InitOptions> {
  const trustees = await Promise.all(
    [1, 2, 3].map(async (i) => ({
      index: i,
      name: `Trustee ${i}`,
      signingKey: signingKeyFromSeed(new Uint8Array(32).fill(i)).publicKey,
      encryptionKey: (await deriveDkgEncryptionKey(new Uint8Array(32).fill(10 + i))).publicKey,
    })),
  );
  // A witness that never answers: the relay starts anyway and retries it (start.md §4.4.1).
  const witness = formatVerifierKey(
    verifierKeyOf(generateSignerKey('w.relay-node.test', SIGNATURE_TYPE_COSIGNATURE)),
  );
  return {
    dataDir,
    org: 'relay-node.test',
    admin,
    trustees,
    threshold: 2,
    witnesses: [{ url: 'http://127.0.0.1:9', vkey: witness }],
    witnessQuorum: 1,
    requesters: [],
    newRequesters: [{ id: 'police', name: 'Police' }],
    limits: { ...DEFAULT_LIMITS, maxSubjects: 4 },
    retentionMs: 90 * DAY,
    now: Date.UTC(2026, 11, 8),
  };
}

function code(e: unknown): string | undefined {
  return isStandaloneError(e) ? `${e.code} ${e.check}` : undefined;
}

async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return code(e) ?? String(e);
  }
  return 'no refusal';
}

describe('overt init (initDeployment)', () => {
  it('writes the directory once (INIT-1), and writes nothing for a policy that does not validate', async () => {
    const dir = join(tmp, 'init');
    const out = await initDeployment(await options(dir));
    expect(out.policy.policy).toMatchObject({ threshold: 2, witnessQuorum: 1, retentionMs: 90 * DAY });
    expect(out.policy.policy.requesters.map((r) => r.id)).toEqual(['police']);
    expect(readFileSync(join(dir, 'requesters', 'police.key')).length).toBe(32);
    expect(verifyPolicy(new Uint8Array(readFileSync(join(dir, POLICY_FILE))), admin.publicKey).hash).toEqual(
      out.policy.hash,
    );
    expect(await refusal(initDeployment(await options(dir)))).toBe('INIT_CONFIG INIT-1');

    const bad = join(tmp, 'bad-threshold');
    const err = await refusal(initDeployment({ ...(await options(bad)), threshold: 4 }));
    expect(err).toMatch(/POLICY_INVALID/);
    expect(existsSync(join(bad, 'overt.json'))).toBe(false);
    expect(existsSync(join(bad, POLICY_FILE))).toBe(false);
  });

  it('readDeployment refuses a directory init did not make, and a malformed relay.json (INIT-2)', async () => {
    expect(() => readDeployment(join(tmp, 'nothing'))).toThrow(/INIT-2/);
    const dir = join(tmp, 'malformed');
    await initDeployment(await options(dir));
    for (const text of ['{', '[]', '{"version":1,"adminKey":"AAAA","witnesses":[]}', '{"version":2}']) {
      writeFileSync(join(dir, RELAY_CONFIG_FILE), text);
      let c: string | undefined;
      try {
        readDeployment(dir);
      } catch (e) {
        c = code(e);
      }
      expect(c, text).toBe('INIT_CONFIG INIT-2');
    }
  });
});

const pgUrl = testDatabaseUrl();
const stores: { name: string; pg: boolean }[] = [
  { name: 'SQLite', pg: false },
  ...(pgUrl !== undefined ? [{ name: 'PostgreSQL', pg: true }] : []),
];

describe.each(stores)('overt relay serve (startRelayNode) on $name', ({ pg }) => {
  const schemas = pg ? { schema: randomSchemaName(), logSchema: randomSchemaName() } : undefined;
  afterAll(async () => {
    if (pgUrl !== undefined && schemas !== undefined)
      for (const s of [schemas.schema, schemas.logSchema]) await dropSchema(pgUrl, s);
  });

  it('logs policy.signed at the first start, reuses it after, refuses another of the same serial (INIT-3); /healthz', async () => {
    const dir = join(tmp, pg ? 'node-pg' : 'node-sqlite');
    await initDeployment(await options(dir));
    const start = () =>
      startRelayNode({
        dataDir: dir,
        port: 0,
        heartbeatMs: 0,
        ...(pg && pgUrl !== undefined ? { databaseUrl: pgUrl, ...schemas } : {}),
      });
    let node = await start();
    try {
      expect(node.policy.status).toBe('published');
      expect(node.policy.record.logIndex).toBe(0);
      const res = await fetch(`${node.url}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        ok: true,
        service: 'relay',
        org: 'relay-node.test',
        store: true,
        policy: 1,
        witnessed: false,
        epochKeys: { current: false, next: false },
      });
      const wk = (await (await fetch(`${node.url}/.well-known/overt`)).json()) as {
        log: { witness_quorum: number };
      };
      expect(wk.log.witness_quorum).toBe(1);
    } finally {
      await node.close();
    }
    node = await start();
    try {
      expect(node.policy.status).toBe('reused');
    } finally {
      await node.close();
    }
    // Another policy with the same serial (re-signed later): refused, and the relay is not left running.
    const original = readFileSync(join(dir, POLICY_FILE));
    const p = verifyPolicy(new Uint8Array(original), admin.publicKey).policy;
    writeFileSync(join(dir, POLICY_FILE), signPolicy({ ...p, issuedAt: p.issuedAt + 1 }, admin));
    expect(await refusal(start())).toBe('INIT_POLICY INIT-3');
    writeFileSync(join(dir, POLICY_FILE), original);
    node = await start();
    await node.close();
  }, 60_000);
});
