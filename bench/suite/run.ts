/**
 * The benchmark suite (issue #13): `npm run bench [-- --quick] [-- PART …] [-- --out FILE]`.
 *
 * Runs every part (bench/suite/parts/index.ts) one after another, or the named ones (a name selects the part
 * and, as a prefix, every part under it: `relay` runs relay/e2e and relay/capacity), and writes one results file
 * (default bench/results.json; schema bench/results.schema.json): the machine, the Node version and the date,
 * then one entry per figure in the common shape (bench/suite/figures.ts). Each part's own JSON goes to
 * bench/raw/<part>.json beside it. Running only some parts keeps the other parts' figures of an existing results
 * file of the same kind (quick or not), so one part can be rerun alone; each part records when it ran.
 *
 * Options: --quick (short samples, small sizes: the whole suite in under 3 minutes on an idle 2-core machine),
 * --out FILE, --list (print the parts and exit). Exit code 1 when a part failed or the file does not validate.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { checkResults } from './check-schema.js';
import type { Figure } from './figures.js';
import { commandOf, ROOT } from './part.js';
import { PARTS } from './parts/index.js';

interface PartEntry {
  name: string;
  command: string;
  status: 'ok' | 'failed' | 'skipped';
  started: string;
  seconds: number;
  quick: boolean;
  error?: string;
  note?: string;
}

export interface Results {
  schema_version: 1;
  date: string;
  quick: boolean;
  node: string;
  command: string;
  machine: {
    cpu_model: string;
    cores: number;
    memory_bytes: number;
    platform: string;
    load_average: { start: number; end: number };
  };
  parts: PartEntry[];
  figures: Figure[];
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outAt = args.indexOf('--out');
const out = resolve(ROOT, outAt >= 0 ? args[outAt + 1]! : 'bench/results.json');
const names = args.filter((a, i) => !a.startsWith('--') && !(outAt >= 0 && i === outAt + 1));

if (args.includes('--list')) {
  for (const p of PARTS) console.log(`${p.name.padEnd(20)} ${p.description}`);
  process.exit(0);
}

const selected =
  names.length === 0
    ? PARTS
    : PARTS.filter((p) => names.some((n) => p.name === n || p.name.startsWith(`${n}/`)));
const unknown = names.filter((n) => !PARTS.some((p) => p.name === n || p.name.startsWith(`${n}/`)));
if (unknown.length > 0) {
  console.error(`unknown part ${unknown.join(', ')}; known: ${PARTS.map((p) => p.name).join(', ')}`);
  process.exit(2);
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const loadStart = loadavg()[0]!;
const started = Date.now();
const entries: PartEntry[] = [];
const figures: Figure[] = [];
const rawDir = join(dirname(out), 'raw');
mkdirSync(rawDir, { recursive: true });

for (const part of selected) {
  const t0 = Date.now();
  const log = (m: string) => console.error(`bench ${part.name}: ${m}`);
  log(quick ? 'running (quick) …' : 'running …');
  const entry: PartEntry = {
    name: part.name,
    command: commandOf(part.name, quick),
    status: 'ok',
    started: new Date(t0).toISOString(),
    seconds: 0,
    quick,
  };
  if (quick && names.length === 0 && part.quickByDefault === false) {
    entry.status = 'skipped';
    entry.note = `left out of --quick (too slow for it): run ${commandOf(part.name, true)}`;
    log('skipped in --quick');
    entries.push(entry);
    continue;
  }
  try {
    const r = await part.run({ quick, log });
    figures.push(...r.figures);
    if (r.note) entry.note = r.note;
    writeFileSync(
      join(rawDir, `${part.name.replaceAll('/', '_')}.json`),
      `${JSON.stringify(r.raw, null, 2)}\n`,
    );
  } catch (e) {
    entry.status = 'failed';
    entry.error = (e instanceof Error ? e.message : String(e)).slice(0, 2000);
    log(`FAILED: ${entry.error}`);
  }
  entry.seconds = round2((Date.now() - t0) / 1000);
  log(`${entry.status} in ${entry.seconds} s`);
  entries.push(entry);
}

// Keep the other parts of an existing file of the same kind when only some parts ran.
let keptParts: PartEntry[] = [];
let keptFigures: Figure[] = [];
if (names.length > 0 && existsSync(out)) {
  try {
    const old = JSON.parse(readFileSync(out, 'utf8')) as Results;
    if (old.quick === quick && checkResults(old).length === 0) {
      const ran = new Set(entries.map((e) => e.name));
      keptParts = old.parts.filter((p) => !ran.has(p.name));
      keptFigures = old.figures.filter((f) => !ran.has(f.part));
    }
  } catch {
    // An unreadable old file is replaced.
  }
}
const order = (name: string) => PARTS.findIndex((p) => p.name === name);
const allParts = [...keptParts, ...entries].sort((a, b) => order(a.name) - order(b.name));
const allFigures = [...keptFigures, ...figures].sort((a, b) => order(a.part) - order(b.part));

const doc: Results = {
  schema_version: 1,
  date: new Date(started).toISOString(),
  quick,
  node: process.version,
  command: `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`,
  machine: {
    cpu_model: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memory_bytes: totalmem(),
    platform: `${platform()} ${release()}`,
    load_average: { start: round2(loadStart), end: round2(loadavg()[0]!) },
  },
  parts: allParts,
  figures: allFigures,
};
const errors = checkResults(doc);
const tmp = `${out}.tmp`;
writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`);
renameSync(tmp, out);
const failed = entries.filter((e) => e.status === 'failed');
console.error(
  `bench: ${figures.length} figures from ${entries.length} parts in ${round2((Date.now() - started) / 1000)} s → ${relative(process.cwd(), out)}` +
    (failed.length > 0 ? `; FAILED: ${failed.map((f) => f.name).join(', ')}` : ''),
);
if (errors.length > 0) {
  console.error(`bench: ${out} does not validate:\n${errors.slice(0, 20).join('\n')}`);
  process.exit(1);
}
process.exit(failed.length > 0 ? 1 : 0);
