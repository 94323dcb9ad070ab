// docs/SPEC.md promises that every check ID the code raises is listed in a part of the specification, with its
// error code and its tests. This test holds the code to that: an ID raised in code but absent from docs/spec/
// fails here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

function files(dir: string, keep: (p: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p, keep));
    else if (keep(p)) out.push(p);
  }
  return out;
}

const ID = /check: '([A-Z]+(?:-[A-Z]+)*-?[A-Z]?\d+[a-z]?)'/g;

describe('check IDs (docs/SPEC.md)', () => {
  const spec = files(join(root, 'docs', 'spec'), (p) => p.endsWith('.md'))
    .map((p) => readFileSync(p, 'utf8'))
    .join('\n');
  const raised = new Map<string, string>();
  for (const file of files(join(root, 'packages'), (p) => p.endsWith('.ts') && !p.endsWith('.test.ts'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(ID)) raised.set(m[1]!, relative(root, file));
  }

  it('the code raises check IDs', () => {
    expect(raised.size).toBeGreaterThan(100);
  });

  it('every check ID raised in code is listed in a part of the specification', () => {
    const missing = [...raised]
      .filter(([id]) => !new RegExp(`\\b${id}\\b`).test(spec))
      .map(([id, f]) => `${id} (${f})`);
    expect(missing).toEqual([]);
  });

  it('SPEC.md links every part that exists', () => {
    const index = readFileSync(join(root, 'docs', 'SPEC.md'), 'utf8');
    for (const part of readdirSync(join(root, 'docs', 'spec'))) expect(index).toContain(`spec/${part}`);
  });
});
