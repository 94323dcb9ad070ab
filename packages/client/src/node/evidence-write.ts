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

/** Files written or read at once by {@link writeEvidenceDirectory} and {@link readEvidence}. */
const WRITE_CONCURRENCY = 32;

/**
 * Writes every file under `dir` (created, mode 0700; files 0600). Every path is checked before anything is
 * written (a path the format does not allow is refused, EVD-1); each directory is created once, and up to
 * {@link WRITE_CONCURRENCY} files are written at a time (a bundle has three files per message).
 */
export async function writeEvidenceDirectory(dir: string, files: EvidenceFiles): Promise<void> {
  for (const path of files.keys())
    if (!isEvidencePath(path)) throw evidenceError('EVD-1', 'a path is not allowed');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const made = new Map<string, Promise<unknown>>();
  const dirOf = (target: string): Promise<unknown> => {
    const d = dirname(target);
    let p = made.get(d);
    if (p === undefined) {
      p = mkdir(d, { recursive: true, mode: 0o700 });
      made.set(d, p);
    }
    return p;
  };
  const queue = files.entries();
  const worker = async () => {
    for (let next = queue.next(); !next.done; next = queue.next()) {
      const [path, bytes] = next.value;
      const target = join(dir, ...path.split('/'));
      await dirOf(target);
      await writeFile(target, bytes, { mode: 0o600 });
    }
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
}

/** Writes the single-file archive (evidence.md §5). */
export async function writeEvidenceArchive(file: string, files: EvidenceFiles): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, encodeEvidenceArchive(files), { mode: 0o600 });
}

async function walk(dir: string, out: string[]): Promise<void> {
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, d.name);
    if (d.isDirectory()) await walk(full, out);
    else if (d.isFile()) out.push(full);
    else throw evidenceError('EVD-1', 'the bundle holds something that is neither a file nor a directory');
  }
}

/** Every file below `root`, read {@link WRITE_CONCURRENCY} at a time, in the order the walk found them. */
async function readTree(root: string): Promise<Map<string, Uint8Array>> {
  const paths: string[] = [];
  await walk(root, paths);
  const bytes: Uint8Array[] = new Array(paths.length);
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      bytes[i] = new Uint8Array(await readFile(paths[i]!));
    }
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, worker));
  const out = new Map<string, Uint8Array>();
  paths.forEach((full, i) => {
    out.set(relative(root, full).split(sep).join('/'), bytes[i]!);
  });
  return out;
}

/** Reads a bundle from a directory, or from an archive file (recognised by its magic). */
export async function readEvidence(path: string): Promise<Map<string, Uint8Array>> {
  if ((await stat(path)).isDirectory()) return readTree(path);
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
