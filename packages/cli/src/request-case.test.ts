// The case directory of `overt request collect` (docs/spec/cli.md §9): what it writes reads back, its checkpoint
// re-verified under the pinned log and witness keys, and opens offline to the same verdicts; a bad share names
// the trustee who released it (ACC-A9); a changed byte in the saved log fails the case (ACC-Q1); another
// request's case is refused. Over the client's real access case (tiled log, witnesses, HPKE-sealed bundles).
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientError } from '@overt/client';
import { type ShareBundle, toBase64 } from '@overt/core';
import { formatVerifierKey, SIGNATURE_TYPE_ED25519, signerKeyFromSeed, verifierKeyOf } from '@overt/log';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AccessCaseFixture,
  buildAccessCase,
  logKey,
  ORIGIN,
  relayKey,
  witnessKeys,
} from '../../client/test/access-case.js';
import { orgKey, requesterKeys } from '../../core/test/workflow-fixtures.js';
import { runInProcess } from '../test/run-cli.js';
import { UsageError } from './command.js';
import {
  type Downloaded,
  decodeEntries,
  encodeEntries,
  loadCase,
  newDirectory,
  openCase,
  parseCaseFile,
  saveCase,
  verdictLines,
  writeEvidence,
} from './request-commands.js';
import type { Org } from './requester.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function orgOf(fx: AccessCaseFixture): Org {
  return {
    orgId: fx.policy.policy.orgId,
    anchors: {
      adminKey: orgKey.publicKey,
      log: {
        origin: ORIGIN,
        url: 'http://127.0.0.1:9/log/',
        vkey: formatVerifierKey(verifierKeyOf(logKey)),
        witnessVkeys: witnessKeys.map((k) => formatVerifierKey(verifierKeyOf(k))),
        witnessQuorum: 2,
      },
    },
    accessKey: relayKey.publicKey,
    from: 'file',
  };
}

function downloaded(fx: AccessCaseFixture): Downloaded {
  return {
    requestId: fx.built.verified.request.requestId,
    view: { checkpoint: fx.checkpoint, entries: fx.entries },
    releases: fx.releases,
    envelopes: fx.envelopes,
  };
}

function caseDir(fx: AccessCaseFixture): string {
  const dir = newDirectory('out', join(mkdtempSync(join(tmpdir(), 'overt-case-')), 'case'));
  dirs.push(join(dir, '..'));
  saveCase(dir, 'http://127.0.0.1:9', downloaded(fx));
  return dir;
}

describe('the case directory of request collect', () => {
  it('reads back under the pinned keys and opens every envelope offline; files are private', async () => {
    const fx = await buildAccessCase();
    const dir = caseDir(fx);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'log.bin')).mode & 0o777).toBe(0o600);
    const org = orgOf(fx);
    const d = loadCase(dir, org, fx.built.verified.request.requestId);
    expect(d.view.entries.length).toBe(fx.entries.length);
    const c = await openCase(org, d, fx.requesterSecretKey.slice());
    expect(c.verdicts.map((v) => v.ok)).toEqual(fx.envelopes.map(() => true));
    // Nothing the case holds is plaintext.
    const all = ['log.bin', 'case.json'].map((f) => readFileSync(join(dir, f)).toString('latin1')).join('');
    for (const p of fx.plaintexts) if (p.text) expect(all).not.toContain(p.text);
    // Another request's case is refused; so is a checkpoint under other keys.
    expect(() => loadCase(dir, org, new Uint8Array(16))).toThrow(UsageError);
    const otherLog = signerKeyFromSeed(ORIGIN, SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(5));
    const other = {
      ...org,
      anchors: {
        ...org.anchors,
        log: { ...org.anchors.log, vkey: formatVerifierKey(verifierKeyOf(otherLog)) },
      },
    };
    expect(() => loadCase(dir, other, fx.built.verified.request.requestId)).toThrow(/signature|verif/i);
  });

  it('a bad share is reported with its trustee (ACC-A9); a changed byte in the saved log fails the case (ACC-Q1)', async () => {
    const bad = await buildAccessCase((trustee, b: ShareBundle) =>
      trustee === 2
        ? { ...b, shares: b.shares.map((s, i) => (i === 1 ? { ...s, share: b.shares[0]!.share } : s)) }
        : b,
    );
    const org = orgOf(bad);
    const dir = caseDir(bad);
    const c = await openCase(
      org,
      loadCase(dir, org, bad.built.verified.request.requestId),
      bad.requesterSecretKey.slice(),
    );
    expect(c.verdicts[1]!.ok).toBe(false);
    const lines = verdictLines(c.verdicts).join('\n');
    expect(lines).toMatch(/1: FAILED {2}ACCESS_BAD_SHARE \[ACC-A9\]: .*trustee 2/);
    expect(lines).toContain('bad share from trustee 2');

    const log = readFileSync(join(dir, 'log.bin'));
    log[log.length - 1]! ^= 1;
    writeFileSync(join(dir, 'log.bin'), log);
    const e = await openCase(
      org,
      loadCase(dir, org, bad.built.verified.request.requestId),
      bad.requesterSecretKey.slice(),
    ).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ClientError);
    expect((e as ClientError).check).toBe('ACC-Q1');
  });
});

/** The org's /.well-known/overt as `--org-anchors` reads it. */
function wellKnown(org: Org): string {
  return JSON.stringify({
    org: org.orgId,
    admin_key: toBase64(org.anchors.adminKey),
    log: {
      origin: org.anchors.log.origin,
      url: org.anchors.log.url,
      vkey: org.anchors.log.vkey,
      witness_vkeys: org.anchors.log.witnessVkeys,
      witness_quorum: org.anchors.log.witnessQuorum,
    },
    accessKey: toBase64(org.accessKey),
  });
}

describe('request open and evidence verify', () => {
  it('the evidence bundle of a case verifies offline (directory and archive); a flipped byte fails naming the file', async () => {
    const fx = await buildAccessCase();
    const org = orgOf(fx);
    const dir = caseDir(fx);
    const root = join(dir, '..');
    const out = join(root, 'evidence');
    const archive = join(root, 'evidence.overt');
    const keys = {
      signingKey: requesterKeys.internal,
      encryption: { publicKey: new Uint8Array(32), secretKey: fx.requesterSecretKey.slice() },
    };
    const w = await writeEvidence(
      org,
      loadCase(dir, org, fx.built.verified.request.requestId),
      keys,
      out,
      archive,
    );
    expect(w.report.ok).toBe(true);
    expect(keys.encryption.secretKey.every((b) => b === 0)).toBe(true);
    const text = fx.plaintexts.find((p) => p.text !== undefined)!;
    const position = fx.plaintexts.indexOf(text);
    expect(readFileSync(join(out, 'messages', String(position), 'text.txt'), 'utf8')).toBe(text.text);

    const anchors = join(root, 'org.json');
    writeFileSync(anchors, wellKnown(org));
    for (const target of [out, archive]) {
      const r = await runInProcess(['evidence', 'verify', target, '--org-anchors', anchors, '--json']);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j).toMatchObject({ ok: true, anchorsPinned: true, failures: [] });
      expect(j.messages.map((m: { status: string }) => m.status)).toEqual(fx.envelopes.map(() => 'verified'));
    }
    const human = await runInProcess(['evidence', 'verify', out, '--org-anchors', anchors]);
    expect(human.stdout).toMatch(/^VERIFIED/);
    expect(human.stdout).toContain(`${position}: verified`);

    // Pinned anchors that differ (another relay key): refused (EVD-4), exit 1.
    const other = join(root, 'other.json');
    writeFileSync(other, wellKnown({ ...org, accessKey: orgKey.publicKey }));
    const pinned = await runInProcess(['evidence', 'verify', out, '--org-anchors', other, '--json']);
    expect(pinned.code).toBe(1);
    expect(JSON.parse(pinned.stdout).failures.map((f: { check: string }) => f.check)).toContain('EVD-4');

    // One flipped byte of a message's text: exit 1, and the failure names that file.
    const file = join(out, 'messages', String(position), 'text.txt');
    const bytes = readFileSync(file);
    bytes[0]! ^= 1;
    writeFileSync(file, bytes);
    const bad = await runInProcess(['evidence', 'verify', out, '--org-anchors', anchors, '--json']);
    expect(bad.code).toBe(1);
    const failures = JSON.parse(bad.stdout).failures as { check: string; file?: string }[];
    expect(failures.some((f) => f.file === `messages/${position}/text.txt`)).toBe(true);
    const badText = await runInProcess(['evidence', 'verify', out]);
    expect(badText.code).toBe(1);
    expect(badText.stdout).toMatch(/^FAILED/);
    expect(badText.stdout).toContain(`messages/${position}/text.txt`);

    // Usage: no such path (exit 2).
    expect((await runInProcess(['evidence', 'verify', join(root, 'none')])).code).toBe(2);
  });
});

function req3(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ClientError);
    expect((e as ClientError).code).toBe('ACCESS_INVALID');
    expect((e as ClientError).check).toBe('REQ-3');
    return;
  }
  throw new Error('accepted');
}

describe('REQ-3: a case directory is read strictly', () => {
  const good = {
    format: 'overt-case/1',
    relay: 'http://127.0.0.1:8420',
    requestId: 'AAAAAAAAAAAAAAAAAAAAAA',
    checkpoint: 'x',
    releases: [{ trustee: 1, batch: 0, index: 9, file: 'bundles/1-0.sealed' }],
    envelopes: 3,
  };

  it('takes the case collect writes and refuses each kind of change', () => {
    expect(parseCaseFile(JSON.stringify(good)).releases).toHaveLength(1);
    const r = good.releases[0]!;
    for (const bad of [
      { ...good, extra: 1 },
      { ...good, format: 'overt-case/2' },
      { ...good, envelopes: -1 },
      { ...good, envelopes: 1.5 },
      { ...good, checkpoint: 7 },
      { ...good, releases: {} },
      { ...good, releases: [{ ...r, file: '../../secret.key' }] },
      { ...good, releases: [{ ...r, file: 'bundles/2-0.sealed' }] },
      { ...good, releases: [{ ...r, trustee: 0, file: 'bundles/0-0.sealed' }] },
      { ...good, releases: [r, r] },
      { ...good, releases: [{ ...r, more: 1 }] },
    ])
      req3(() => parseCaseFile(JSON.stringify(bad)));
    req3(() => parseCaseFile('{'));
  });

  it('any JSON is either a well-formed case or ACCESS_INVALID REQ-3 (fuzz)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          const c = parseCaseFile(JSON.stringify(v));
          for (const x of c.releases) expect(x.file).toBe(`bundles/${x.trustee}-${x.batch}.sealed`);
        } catch (e) {
          expect(e).toBeInstanceOf(ClientError);
          expect((e as ClientError).check).toBe('REQ-3');
        }
      }),
      { numRuns: 500 },
    );
  });

  it('log.bin: any bytes decode to entries that re-encode to them, or fail REQ-3 (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          expect(encodeEntries(decodeEntries(bytes))).toEqual(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(ClientError);
          expect((e as ClientError).check).toBe('REQ-3');
        }
      }),
      { numRuns: 1000 },
    );
    const entries = [Uint8Array.of(1, 2, 3), Uint8Array.of(5)];
    expect(decodeEntries(encodeEntries(entries))).toEqual(entries);
    req3(() => decodeEntries(encodeEntries(entries).subarray(0, 8)));
  });
});
