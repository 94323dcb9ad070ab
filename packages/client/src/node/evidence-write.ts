/**
 * The evidence bundle on disk (docs/spec/evidence.md §2, §5): write it as a directory or as one archive file, read
 * either back into the abstract file map, and verify it offline. Paths come only from the bundle format
 * (isEvidencePath: no "..", no separators inside a segment), so writing cannot leave the target directory.
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  decodeEvidenceArchive,
  EVIDENCE_ARCHIVE_MAGIC,
  type EvidenceFiles,
  encodeEvidenceArchive,
  evidenceError,
  isEvidencePath,
} from '../access/evidence.js';
import {
  type EvidenceReport,
  type VerifyEvidenceOptions,
  verifyEvidence,
} from '../access/evidence-verify.js';

/** Writes every file under `dir` (created, mode 0700; files 0600). Refuses a path the format does not allow. */
export async function writeEvidenceDirectory(dir: string, files: EvidenceFiles): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [path, bytes] of files) {
    if (!isEvidencePath(path)) throw evidenceError('EVD-1', 'a path is not allowed');
    const target = join(dir, ...path.split('/'));
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    await writeFile(target, bytes, { mode: 0o600 });
  }
}

/** Writes the single-file archive (evidence.md §5). */
export async function writeEvidenceArchive(file: string, files: EvidenceFiles): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, encodeEvidenceArchive(files), { mode: 0o600 });
}

async function walk(root: string, dir: string, out: Map<string, Uint8Array>): Promise<void> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, d.name);
    if (d.isDirectory()) await walk(root, full, out);
    else if (d.isFile())
      out.set(relative(root, full).split(sep).join('/'), new Uint8Array(await readFile(full)));
    else throw evidenceError('EVD-1', 'the bundle holds something that is neither a file nor a directory');
  }
}

/** Reads a bundle from a directory, or from an archive file (recognised by its magic). */
export async function readEvidence(path: string): Promise<Map<string, Uint8Array>> {
  if ((await stat(path)).isDirectory()) {
    const out = new Map<string, Uint8Array>();
    await walk(path, path, out);
    return out;
  }
  const bytes = new Uint8Array(await readFile(path));
  const magic = new TextEncoder().encode(EVIDENCE_ARCHIVE_MAGIC);
  if (bytes.length < magic.length || magic.some((b, i) => bytes[i] !== b))
    throw evidenceError('EVD-1', 'the file is not an evidence archive');
  return decodeEvidenceArchive(bytes);
}

/** Reads and verifies a bundle offline; a bundle that cannot be read is a report with one EVD-1 failure. */
export async function verifyEvidenceAt(
  path: string,
  options: VerifyEvidenceOptions = {},
): Promise<EvidenceReport> {
  let files: Map<string, Uint8Array>;
  try {
    files = await readEvidence(path);
  } catch (e) {
    const reason = e instanceof Error && 'check' in e ? e.message : 'the bundle cannot be read';
    return {
      ok: false,
      anchorsPinned: options.anchors !== undefined,
      failures: [{ check: 'EVD-1', reason }],
      messages: [],
    };
  }
  return verifyEvidence(files, options);
}
