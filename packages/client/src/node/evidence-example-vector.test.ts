// The committed example evidence bundle (test/vectors/evidence-example/ and evidence-example.overt-evidence,
// docs/spec/evidence.md §6): the generator reproduces both byte for byte, and both verify offline from the files
// alone; writing a bundle to a directory or an archive and reading it back gives the same files (EVD-1).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildAccessCase } from '../../test/access-case.js';
import { EVIDENCE_ARCHIVE, EVIDENCE_DIR, evidenceFilesOf } from '../../test/gen-evidence-vector.js';
import { encodeEvidenceArchive } from '../access/evidence.js';
import {
  readEvidence,
  verifyEvidenceAt,
  writeEvidenceArchive,
  writeEvidenceDirectory,
} from './evidence-write.js';

describe('example evidence bundle (evidence.md §6)', () => {
  it('verifies offline from the committed files alone, as a directory and as an archive', async () => {
    for (const path of [EVIDENCE_DIR, EVIDENCE_ARCHIVE]) {
      const r = await verifyEvidenceAt(path);
      expect(r.failures).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.messages.map((m) => m.status)).toEqual(['verified', 'verified', 'verified']);
      expect(r.org).toBe('example.org');
    }
  });

  it('the generator reproduces the committed bundle byte for byte', async () => {
    const files = await evidenceFilesOf(await buildAccessCase());
    const onDisk = await readEvidence(EVIDENCE_DIR);
    expect([...onDisk.keys()].sort()).toEqual([...files.keys()].sort());
    for (const [p, b] of files) expect(onDisk.get(p), p).toEqual(b);
    expect(new Uint8Array(readFileSync(EVIDENCE_ARCHIVE))).toEqual(encodeEvidenceArchive(files));
  });

  it('a written directory and archive read back to the same files; a non-archive is EVD-1', async () => {
    const files = await readEvidence(EVIDENCE_ARCHIVE);
    const dir = mkdtempSync(join(tmpdir(), 'overt-evidence-'));
    try {
      await writeEvidenceDirectory(join(dir, 'b'), files);
      await writeEvidenceArchive(join(dir, 'b.overt-evidence'), files);
      for (const p of [join(dir, 'b'), join(dir, 'b.overt-evidence')]) {
        const back = await readEvidence(p);
        expect([...back.keys()].sort()).toEqual([...files.keys()].sort());
        for (const [k, v] of files) expect(back.get(k)).toEqual(v);
      }
      const notArchive = await verifyEvidenceAt(join(dir, 'b', 'manifest.json'));
      expect(notArchive.ok).toBe(false);
      expect(notArchive.failures[0]!.check).toBe('EVD-1');
      // A path the format does not allow is refused before anything is written (no half-written directory).
      const bad = new Map(files).set('messages/../../escape.txt', new Uint8Array(1));
      await expect(writeEvidenceDirectory(join(dir, 'c'), bad)).rejects.toThrowError(/EVD-1/);
      expect(existsSync(join(dir, 'c'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
