// The evidence bundle (docs/spec/evidence.md) built from a real case (real tiled log with two witnesses, real
// trustee-signed epoch key, real envelopes and HPKE-sealed share bundles) and verified offline from its files:
// every message opens to its text or file; the archive round-trips; any single flipped byte in any file, any
// removed file, or a swapped share makes verification fail and names the file or the message — also when the
// requester re-signs the manifest over the altered files (the semantic checks, not only the hashes, catch it).
import { type ShareBundle, sha256, toHex, utf8Decode, utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { requesterKeys } from '../../../core/test/workflow-fixtures.js';
import { buildAccessCase } from '../../test/access-case.js';
import { evidenceFilesOf, exampleAnchors } from '../../test/gen-evidence-vector.js';
import {
  decodeEvidenceArchive,
  type EvidenceManifest,
  encodeEvidenceArchive,
  MANIFEST_PATH,
  MANIFEST_SIG_PATH,
  signManifest,
} from './evidence.js';
import { type EvidenceReport, verifyEvidence } from './evidence-verify.js';

let files: Map<string, Uint8Array>;
beforeAll(async () => {
  files = await evidenceFilesOf(await buildAccessCase());
});

/** Re-hash every file into the manifest and re-sign it with the requester's key: what a lying requester can do. */
function resign(f: Map<string, Uint8Array>): Map<string, Uint8Array> {
  const out = new Map(f);
  const m = JSON.parse(utf8Decode(out.get(MANIFEST_PATH)!)) as EvidenceManifest;
  const listed = m.files
    .filter((x) => out.has(x.path))
    .map((x) => ({
      path: x.path,
      size: out.get(x.path)!.length,
      sha256: toHex(sha256(out.get(x.path)!)),
    }));
  const bytes = utf8Encode(`${JSON.stringify({ ...m, files: listed }, null, 2)}\n`);
  out.set(MANIFEST_PATH, bytes);
  out.set(MANIFEST_SIG_PATH, signManifest(requesterKeys.internal, bytes));
  return out;
}

function flip(f: Map<string, Uint8Array>, path: string, at: number, mask: number): Map<string, Uint8Array> {
  const out = new Map(f);
  const b = out.get(path)!.slice();
  b[at]! ^= mask;
  out.set(path, b);
  return out;
}

function names(r: EvidenceReport, path: string): boolean {
  return r.failures.some(
    (f) =>
      f.file === path ||
      (f.position !== undefined && path.startsWith(`messages/${f.position}/`)) ||
      (path.startsWith('manifest.') && (f.file === MANIFEST_PATH || f.file === MANIFEST_SIG_PATH)),
  );
}

describe('evidence bundle (evidence.md)', () => {
  it('verifies offline from its files: every message readable, text shown, files as files', async () => {
    const r = await verifyEvidence(files, { anchors: exampleAnchors });
    expect(r.failures).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.anchorsPinned).toBe(true);
    expect(r.checkpoint?.witnesses).toEqual(['witness1.example.net', 'witness2.example.net']);
    expect(r.messages.map((m) => m.status)).toEqual(['verified', 'verified', 'verified']);
    const texts = r.messages
      .filter((m) => m.content?.endsWith('text.txt'))
      .map((m) => utf8Decode(files.get(m.content!)!));
    expect(texts.sort()).toEqual(['Got them, thanks.', 'Here are the client numbers you asked for.']);
    const file = r.messages.find((m) => m.fileName !== undefined)!;
    expect(file.fileName).toBe('contract draft.pdf');
    expect(file.contentType).toBe('application/pdf');
    expect(utf8Decode(files.get(file.content!)!)).toBe('%PDF-1.4 draft');
    for (const m of r.messages) expect(m.trustees).toEqual([1, 2]);
  });

  it('after a resharing (ACC-A10): the bundle carries both epoch-key statements and verifies under the one in force at the releases', async () => {
    const reshared = await evidenceFilesOf(await buildAccessCase(undefined, { reshare: 'before' }));
    const r = await verifyEvidence(reshared, { anchors: exampleAnchors });
    expect(r.failures).toEqual([]);
    expect(r.messages.map((m) => m.status)).toEqual(['verified', 'verified', 'verified']);
    const manifest = JSON.parse(utf8Decode(reshared.get(MANIFEST_PATH)!)) as {
      entries: { role: string }[];
    };
    expect(manifest.entries.filter((e) => e.role === 'epoch-key')).toHaveLength(2);
  });

  it('EVD-1: the single-file archive round-trips and is strict', async () => {
    const archive = encodeEvidenceArchive(files);
    const back = decodeEvidenceArchive(archive);
    expect([...back.keys()]).toEqual([...files.keys()].sort());
    expect((await verifyEvidence(back, { anchors: exampleAnchors })).ok).toBe(true);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: archive.length - 1 }), (n) => {
        expect(() => decodeEvidenceArchive(archive.slice(0, n))).toThrowError(/EVIDENCE_INVALID \[EVD-1\]/);
      }),
      { numRuns: 200 },
    );
    expect(() => decodeEvidenceArchive(new Uint8Array([...archive, 0]))).toThrowError(/EVD-1/);
  });

  it('any single flipped byte in any file fails verification and names the file', async () => {
    const paths = [...files.keys()];
    await fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...paths)
          .chain((p) =>
            fc.tuple(
              fc.constant(p),
              fc.integer({ min: 0, max: files.get(p)!.length - 1 }),
              fc.integer({ min: 1, max: 255 }),
            ),
          ),
        async ([path, at, mask]) => {
          const r = await verifyEvidence(flip(files, path, at, mask), { anchors: exampleAnchors });
          expect(r.ok).toBe(false);
          expect(names(r, path)).toBe(true);
        },
      ),
      { numRuns: Number(process.env.EVD_RUNS ?? 150) },
    );
  });

  it('a flipped byte still fails when the requester re-signs the manifest over it (EVD-4..EVD-10, ACC-*)', async () => {
    const paths = [...files.keys()].filter((p) => !p.startsWith('manifest.'));
    await fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...paths)
          .chain((p) =>
            fc.tuple(
              fc.constant(p),
              fc.integer({ min: 0, max: files.get(p)!.length - 1 }),
              fc.integer({ min: 1, max: 255 }),
            ),
          ),
        async ([path, at, mask]) => {
          const r = await verifyEvidence(resign(flip(files, path, at, mask)), { anchors: exampleAnchors });
          expect(r.ok).toBe(false);
          expect(names(r, path)).toBe(true);
        },
      ),
      { numRuns: Number(process.env.EVD_RUNS ?? 200) },
    );
  });

  it('every byte of every logged entry, receipt, bundle and envelope is covered (exhaustive, re-signed)', async () => {
    // One flip per byte position of a sample of files, exhaustively: the property above samples; this walks.
    for (const path of ['entries/7.entry', 'bundles/2-0.shares', 'messages/1/head.bin']) {
      const len = files.get(path)!.length;
      for (let at = 0; at < len; at += Math.max(1, Math.floor(len / 97))) {
        const r = await verifyEvidence(resign(flip(files, path, at, 0x01)), { anchors: exampleAnchors });
        expect(r.ok, `${path}@${at}`).toBe(false);
        expect(names(r, path), `${path}@${at}`).toBe(true);
      }
    }
  });

  it('any removed file fails verification and names the file (also re-signed)', async () => {
    for (const path of files.keys()) {
      const without = new Map(files);
      without.delete(path);
      const r = await verifyEvidence(without, { anchors: exampleAnchors });
      expect(r.ok, path).toBe(false);
      expect(names(r, path), path).toBe(true);
      if (path.startsWith('manifest.')) continue;
      const r2 = await verifyEvidence(resign(without), { anchors: exampleAnchors });
      expect(r2.ok, `${path} re-signed`).toBe(false);
    }
  });

  it('ACC-A9: a share swapped between two messages names the trustee bundle and both messages', async () => {
    const path = 'bundles/2-0.shares';
    const { decodeShareBundle, encodeShareBundle } = await import('@overt/core');
    const b: ShareBundle = decodeShareBundle(files.get(path)!);
    const shares = b.shares.map((s, i) => ({ ...s, share: b.shares[i === 0 ? 1 : i === 1 ? 0 : i]!.share }));
    const swapped = resign(new Map(files).set(path, encodeShareBundle({ ...b, shares })));
    const r = await verifyEvidence(swapped, { anchors: exampleAnchors });
    expect(r.ok).toBe(false);
    const bad = r.failures.filter((f) => f.check === 'ACC-A9');
    expect(bad.map((f) => f.position).sort()).toEqual([0, 1]);
    for (const f of bad) {
      expect(f.file).toBe(path);
      expect(f.reason).toContain('trustee 2');
    }
    expect(r.messages.map((m) => m.status)).toEqual(['failed', 'failed', 'verified']);
  });

  it('EVD-4: other pinned anchors are refused; the bundle alone verifies against its own', async () => {
    const other = { ...exampleAnchors, relayKey: new Uint8Array(32).fill(9) };
    const r = await verifyEvidence(files, { anchors: other });
    expect(r.ok).toBe(false);
    expect(r.failures[0]!.check).toBe('EVD-4');
    const own = await verifyEvidence(files);
    expect(own.ok).toBe(true);
    expect(own.anchorsPinned).toBe(false);
  });

  it('EVD-5: a manifest not signed by the requester is refused', async () => {
    const r = await verifyEvidence(new Map(files).set(MANIFEST_SIG_PATH, new Uint8Array(64)));
    expect(r.ok).toBe(false);
    expect(r.failures.map((f) => f.check)).toContain('EVD-5');
  });

  it('EVD-10: a message shown with other content than the envelope holds is refused', async () => {
    const m = JSON.parse(utf8Decode(files.get(MANIFEST_PATH)!)) as EvidenceManifest;
    const text = m.messages.find((x) => x.content?.endsWith('text.txt'))!;
    const lie = resign(new Map(files).set(text.content!, utf8Encode('Nothing to see here.')));
    const r = await verifyEvidence(lie, { anchors: exampleAnchors });
    expect(r.ok).toBe(false);
    expect(r.failures.some((f) => f.check === 'EVD-10' && f.position === text.position)).toBe(true);
  });

  it('fuzz: random files and manifests are reported, never thrown (EVD-1, EVD-2)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }), fc.uint8Array({ maxLength: 64 }), {
          maxKeys: 5,
        }),
        async (d) => {
          const r = await verifyEvidence(new Map(Object.entries(d)));
          expect(r.ok).toBe(false);
          for (const f of r.failures) expect(f.check).toMatch(/^EVD-\d+$/);
        },
      ),
      { numRuns: 100 },
    );
    const m = JSON.parse(utf8Decode(files.get(MANIFEST_PATH)!)) as Record<string, unknown>;
    const keys = Object.keys(m);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...keys), fc.jsonValue(), async (k, v) => {
        const bytes = utf8Encode(`${JSON.stringify({ ...m, [k]: v }, null, 2)}\n`);
        const f = new Map(files)
          .set(MANIFEST_PATH, bytes)
          .set(MANIFEST_SIG_PATH, signManifest(requesterKeys.internal, bytes));
        const r = await verifyEvidence(f, { anchors: exampleAnchors });
        for (const x of r.failures) expect(x.check).toMatch(/^(EVD|ACC)-[A-Z]?\d+$/);
        if (k !== 'createdAt' && JSON.stringify(v) !== JSON.stringify(m[k])) expect(r.ok).toBe(false);
      }),
      { numRuns: 100 },
    );
    for (const bad of ['', '{', '[]', '{"format":"overt-evidence/v1"}', 'null'])
      expect(
        (await verifyEvidence(new Map(files).set(MANIFEST_PATH, utf8Encode(bad)))).failures[0]!.check,
      ).toBe('EVD-2');
    for (const bad of ['', '{}', '{"format":"overt-evidence-anchors/v1"}'])
      expect(
        (await verifyEvidence(resign(new Map(files).set('anchors.json', utf8Encode(bad))))).failures.some(
          (f) => f.check === 'EVD-4',
        ),
      ).toBe(true);
  });

  it('no failure reason quotes plaintext or key material', async () => {
    const r = await verifyEvidence(resign(flip(files, 'messages/1/ciphertext.bin', 5, 1)), {
      anchors: exampleAnchors,
    });
    expect(r.ok).toBe(false);
    const all = JSON.stringify(r.failures);
    expect(all).not.toContain('client numbers');
    expect(all).not.toMatch(/[0-9a-f]{40}/);
  });
});
