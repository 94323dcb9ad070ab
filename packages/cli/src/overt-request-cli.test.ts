/**
 * The requester's commands (docs/spec/cli.md §8, access.md §8) against the real system of `npm start`: the
 * requester stand-in's key (data/requester/secret.key) files a request for alice's messages, `request status` shows
 * it pending on the verified log, pinned anchors are honoured, and every kind of mistake gets its exit status.
 */
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromBase64, toBase64, toHex } from '@overt/core';
import { describe, expect, it } from 'vitest';
import { ok, useNpmStart } from '../test/npm-start.js';
import { runCli } from '../test/run-cli.js';

const sys = useNpmStart('overt-request-cli-');
const alice = join(sys.tmp, 'alice');
const bob = join(sys.tmp, 'bob');
const requesterKey = () => join(sys.tmp, 'data', 'requester', 'secret.key');
const base = () => ['--relay', sys.relay, '--requester-key', requesterKey()];
const day = 86_400_000;

function fileArgs(extra: string[] = []): string[] {
  const document = join(sys.tmp, 'order.pdf');
  writeFileSync(document, 'Court order 42/2026: disclose the messages of alice');
  return [
    'request',
    'file',
    ...base(),
    '--subject',
    'alice',
    '--from',
    new Date(Date.now() - day).toISOString(),
    '--until',
    new Date(Date.now() + day).toISOString(),
    '--legal-basis',
    'Court order 42/2026',
    '--document',
    document,
    '--justification',
    'fraud investigation',
    '--case-ref',
    'CASE-42',
    ...extra,
  ];
}

describe('overt request against npm start', () => {
  it('files a request that status shows pending on the verified log, with the pinned anchors', async () => {
    await Promise.all([sys.enrol('alice', alice), sys.enrol('bob', bob)]);
    await ok(['chat', 'list', '--profile', bob]);
    const conv = (await ok(['chat', 'new', '--profile', alice, '--with', 'bob'])).conversation as string;
    await ok(['send', '--profile', alice, '--to', conv, 'the ledger is in the safe']);

    const filed = await ok(fileArgs());
    expect(filed).toMatchObject({
      ok: true,
      requester: 'local-requester',
      policySerial: 1,
      anchors: 'relay',
    });
    const id = filed.requestId as string;
    expect(fromBase64(id.replace(/-/g, '+').replace(/_/g, '/').padEnd(24, '=')).length).toBe(16);
    expect(filed.index).toBeGreaterThan(0);

    // Pinned anchors: a saved copy of /.well-known/overt.
    const anchors = join(sys.tmp, 'org.json');
    writeFileSync(anchors, await (await fetch(`${sys.relay}/.well-known/overt`)).text());
    const status = await ok(['request', 'status', id, ...base(), '--org-anchors', anchors]);
    const hash = toHex(
      new Uint8Array(
        await crypto.subtle.digest(
          'SHA-256',
          new TextEncoder().encode('Court order 42/2026: disclose the messages of alice'),
        ),
      ),
    );
    expect(status).toMatchObject({
      ok: true,
      requestId: id,
      anchors: 'file',
      status: 'pending',
      relayStatus: 'pending',
      requestIndex: filed.index,
      requester: 'local-requester',
      legalBasis: 'Court order 42/2026',
      documentHash: hash,
      subjects: ['alice'],
      conversations: [],
      threshold: 2,
      trustees: 3,
      decisions: [],
      execution: null,
      releases: [],
      refusals: [],
      unlisted: 0,
    });
    expect(status.checkpointSize).toBeGreaterThan(filed.index as number);
    // The confidential part is not on the log nor in the status.
    expect(JSON.stringify(status)).not.toContain('fraud investigation');
    expect(JSON.stringify(status)).not.toContain('CASE-42');

    const text = await runCli(['request', 'status', id, ...base()]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/status {4}pending/);
    expect(text.stdout).toContain('decisions 0 (2 of 3 trustees must approve)');
    expect(text.stdout).toContain('execution none yet');

    // Nothing to collect before execution: exit 1, and the case directory stays empty.
    const early = await runCli([
      'request',
      'collect',
      id,
      ...base(),
      '--out',
      join(sys.tmp, 'case'),
      '--json',
    ]);
    expect(early.code).toBe(1);
    expect(JSON.parse(early.stdout)).toMatchObject({
      ok: false,
      status: 'pending',
      error: { code: 'ACCESS_NOT_EXECUTED' },
    });

    const earlyOpen = await runCli([
      'request',
      'open',
      id,
      ...base(),
      '--out',
      join(sys.tmp, 'evidence'),
      '--json',
    ]);
    expect(earlyOpen.code).toBe(1);
    expect(JSON.parse(earlyOpen.stdout)).toMatchObject({ ok: false, error: { code: 'ACCESS_NOT_EXECUTED' } });

    // Anchors that pin another org admin key: the logged policy does not verify under it (REQ-1).
    const doc = JSON.parse(readFileSync(anchors, 'utf8')) as Record<string, unknown>;
    const forged = join(sys.tmp, 'forged.json');
    writeFileSync(forged, JSON.stringify({ ...doc, admin_key: toBase64(new Uint8Array(32).fill(7)) }));
    const refused = await runCli(['request', 'status', id, ...base(), '--org-anchors', forged, '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'ACCESS_INVALID', check: 'REQ-1' });
  }, 300_000);

  it('refuses mistakes with the exit statuses of cli.md §4.1', async () => {
    const code = async (args: string[]) => (await runCli(args)).code;
    // Usage (2): bad id, missing or malformed options, both or neither of a pair, an unreadable or open key file.
    expect(await code(['request', 'status', 'not-an-id', ...base()])).toBe(2);
    const noSubject = fileArgs();
    noSubject.splice(noSubject.indexOf('--subject'), 2);
    expect(await code(noSubject)).toBe(2);
    expect(await code(fileArgs(['--document-hash', '00'.repeat(32)]))).toBe(2);
    expect(await code(fileArgs(['--max-envelopes', '0']))).toBe(2);
    expect(await code([...fileArgs(), '--from', 'yesterday'])).toBe(2);
    const missing = await runCli([
      'request',
      'status',
      'AAAAAAAAAAAAAAAAAAAAAA',
      '--relay',
      sys.relay,
      '--requester-key',
      join(sys.tmp, 'none.key'),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('ENOENT');
    const open = join(sys.tmp, 'open.key');
    copyFileSync(requesterKey(), open);
    chmodSync(open, 0o644);
    const loose = await runCli([
      'request',
      'status',
      'AAAAAAAAAAAAAAAAAAAAAA',
      '--relay',
      sys.relay,
      '--requester-key',
      open,
    ]);
    expect(loose.code).toBe(2);
    expect(loose.stderr).toContain('mode 0600');
    const short = join(sys.tmp, 'short.key');
    writeFileSync(short, 'x', { mode: 0o600 });
    expect(
      await code([
        'request',
        'status',
        'AAAAAAAAAAAAAAAAAAAAAA',
        '--relay',
        sys.relay,
        '--requester-key',
        short,
      ]),
    ).toBe(2);
    // --out must be new or empty (sys.tmp holds the data directory).
    expect(await code(['request', 'collect', 'AAAAAAAAAAAAAAAAAAAAAA', ...base(), '--out', sys.tmp])).toBe(2);

    // Offline from a case, the org keys must be pinned.
    const offline = await runCli([
      'request',
      'open',
      'AAAAAAAAAAAAAAAAAAAAAA',
      ...base(),
      '--case',
      join(sys.tmp, 'no-case'),
      '--out',
      join(sys.tmp, 'no-evidence'),
    ]);
    expect(offline.code).toBe(2);
    expect(offline.stderr).toContain('--org-anchors');

    // Failed (1): a key the policy does not name (REQ-1); a request the relay does not know.
    const stranger = join(sys.tmp, 'stranger.key');
    writeFileSync(stranger, new Uint8Array(32).fill(9), { mode: 0o600 });
    const notNamed = await runCli([...fileArgs(), '--requester-key', stranger, '--json']);
    expect(notNamed.code).toBe(1);
    expect(JSON.parse(notNamed.stdout).error).toMatchObject({ code: 'ACCESS_INVALID', check: 'REQ-1' });
    const unknown = await runCli(['request', 'status', 'AAAAAAAAAAAAAAAAAAAAAA', ...base(), '--json']);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout).error).toMatchObject({ relayCode: 'ACCESS_REQUEST_UNKNOWN' });

    // Unavailable (4): nothing listens there.
    const down = await runCli([
      'request',
      'status',
      'AAAAAAAAAAAAAAAAAAAAAA',
      '--relay',
      'http://127.0.0.1:9',
      '--requester-key',
      requesterKey(),
    ]);
    expect(down.code).toBe(4);

    for (const cmd of ['file', 'status', 'collect', 'open']) {
      const h = await runCli(['request', cmd, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain('Example');
      expect(h.stdout).toContain('--requester-key');
    }
    const h = await runCli(['evidence', 'verify', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Example');
  }, 300_000);
});
