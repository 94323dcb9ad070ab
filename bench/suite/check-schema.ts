/**
 * A small JSON Schema checker for bench/results.schema.json, and the consistency checks a schema cannot express
 * (unique names, spread around the value, the ratio equal to value / baseline). No dependency: it implements the
 * subset of JSON Schema 2020-12 the results schema uses and refuses a schema that uses any other keyword, so a
 * keyword it does not know can never pass silently.
 *
 *   npx tsx bench/suite/check-schema.ts [bench/results.json]   → exit 0 and "ok", or the errors and exit 1
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Schema = { [keyword: string]: unknown };

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', '$defs']);
const KEYWORDS = new Set([
  'type',
  'const',
  'enum',
  'required',
  'properties',
  'additionalProperties',
  'items',
  'minItems',
  'minimum',
  'exclusiveMinimum',
  'minLength',
  'pattern',
  'oneOf',
  '$ref',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function hasType(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  if (t === 'number') return actual === 'number' || actual === 'integer';
  return actual === t;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Errors of `value` against `schema` (the root schema, for $ref), each "path: message"; [] when valid. */
export function validate(schema: Schema, value: unknown): string[] {
  const errors: string[] = [];
  check(schema, schema, value, '$', errors);
  return errors;
}

function resolve(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
  let at: unknown = root;
  for (const part of ref.slice(2).split('/')) at = (at as Schema)[part];
  if (typeof at !== 'object' || at === null) throw new Error(`unresolved $ref ${ref}`);
  return at as Schema;
}

function check(root: Schema, s: Schema, v: unknown, path: string, errors: string[]): void {
  for (const k of Object.keys(s))
    if (!KEYWORDS.has(k) && !ANNOTATIONS.has(k)) throw new Error(`schema keyword ${k} is not supported`);
  if (typeof s.$ref === 'string') check(root, resolve(root, s.$ref), v, path, errors);
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => hasType(v, t))) {
      errors.push(`${path}: expected ${types.join(' or ')}, got ${typeOf(v)}`);
      return;
    }
  }
  if ('const' in s && !equal(s.const, v)) errors.push(`${path}: expected ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => equal(e, v)))
    errors.push(`${path}: not one of ${JSON.stringify(s.enum)}`);
  if (Array.isArray(s.oneOf)) {
    const passing = s.oneOf.filter((sub) => {
      const e: string[] = [];
      check(root, sub as Schema, v, path, e);
      return e.length === 0;
    });
    if (passing.length !== 1) errors.push(`${path}: matches ${passing.length} of oneOf, not exactly 1`);
  }
  if (typeof v === 'number') {
    if (typeof s.minimum === 'number' && v < s.minimum) errors.push(`${path}: below ${s.minimum}`);
    if (typeof s.exclusiveMinimum === 'number' && v <= s.exclusiveMinimum)
      errors.push(`${path}: not above ${s.exclusiveMinimum}`);
    if (!Number.isFinite(v)) errors.push(`${path}: not finite`);
  }
  if (typeof v === 'string') {
    if (typeof s.minLength === 'number' && v.length < s.minLength)
      errors.push(`${path}: shorter than ${s.minLength}`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v))
      errors.push(`${path}: does not match ${s.pattern}`);
  }
  if (Array.isArray(v)) {
    if (typeof s.minItems === 'number' && v.length < s.minItems)
      errors.push(`${path}: fewer than ${s.minItems} items`);
    if (typeof s.items === 'object' && s.items !== null)
      v.forEach((item, i) => {
        check(root, s.items as Schema, item, `${path}[${i}]`, errors);
      });
  }
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    if (Array.isArray(s.required))
      for (const r of s.required as string[]) if (!(r in o)) errors.push(`${path}: missing ${r}`);
    const props = (s.properties ?? {}) as Record<string, Schema>;
    for (const [k, x] of Object.entries(o)) {
      if (props[k] !== undefined) check(root, props[k], x, `${path}.${k}`, errors);
      else if (s.additionalProperties === false) errors.push(`${path}: unexpected property ${k}`);
      else if (typeof s.additionalProperties === 'object')
        check(root, s.additionalProperties as Schema, x, `${path}.${k}`, errors);
    }
  }
}

interface FigureLike {
  name: string;
  part: string;
  value: number;
  baseline: { value: number } | null;
  ratio: number | null;
  target: number | null;
  meets_target: boolean | null;
  higher_is_better: boolean;
  spread: { min: number; median: number; max: number };
}

/**
 * What the schema cannot say: every figure name unique and its part listed, min ≤ median ≤ max with the value
 * the median, the ratio value / baseline (to 0.1%), meets_target consistent with target and direction.
 * Call only on a document that validated.
 */
export function consistency(doc: { parts: { name: string }[]; figures: FigureLike[] }): string[] {
  const errors: string[] = [];
  const parts = new Set(doc.parts.map((p) => p.name));
  const names = new Set<string>();
  for (const [i, f] of doc.figures.entries()) {
    const at = `$.figures[${i}] (${f.name})`;
    if (names.has(f.name)) errors.push(`${at}: duplicate name`);
    names.add(f.name);
    if (!parts.has(f.part)) errors.push(`${at}: part ${f.part} is not in parts`);
    const { min, median, max } = f.spread;
    if (!(min <= median && median <= max)) errors.push(`${at}: spread not ordered`);
    if (f.value !== median) errors.push(`${at}: value is not the median`);
    if ((f.baseline === null) !== (f.ratio === null)) errors.push(`${at}: ratio without baseline or back`);
    if (f.baseline !== null && f.ratio !== null && f.baseline.value !== 0) {
      const expected = f.value / f.baseline.value;
      if (Math.abs(f.ratio - expected) > Math.abs(expected) * 1e-3 + 1e-9)
        errors.push(`${at}: ratio ${f.ratio} is not value / baseline ${expected}`);
    }
    if ((f.target === null) !== (f.meets_target === null)) errors.push(`${at}: meets_target without target`);
    if (f.target !== null && f.meets_target !== null) {
      const meets = f.higher_is_better ? f.value >= f.target : f.value <= f.target;
      if (meets !== f.meets_target) errors.push(`${at}: meets_target is wrong`);
    }
  }
  return errors;
}

export const SCHEMA_PATH = fileURLToPath(new URL('../results.schema.json', import.meta.url));

/** Schema errors, then consistency errors, of a results document. */
export function checkResults(doc: unknown): string[] {
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Schema;
  const errors = validate(schema, doc);
  if (errors.length > 0) return errors;
  return consistency(doc as Parameters<typeof consistency>[0]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2] ?? fileURLToPath(new URL('../results.json', import.meta.url));
  const errors = checkResults(JSON.parse(readFileSync(file, 'utf8')));
  if (errors.length > 0) {
    for (const e of errors.slice(0, 50)) console.error(e);
    process.exit(1);
  }
  console.log(`${file}: ok`);
}
