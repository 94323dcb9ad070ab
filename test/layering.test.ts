// Enforces the layering of docs/ARCHITECTURE.md: nothing imports upward, and the browser-safe layers (core,
// the verifying half of log, client) import no `node:` module and use no Buffer. An upward import is a bug.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const packages = join(root, 'packages');

/** Lower rank = lower layer. A package may import only packages of strictly lower rank. */
const RANK: Record<string, number> = {
  core: 0,
  log: 1,
  client: 2,
  witness: 2,
  trustee: 3,
  server: 3,
  up: 4,
  cli: 5,
  web: 5,
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.tsx?$/.test(p) && !p.endsWith('.test.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(
    /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
  )) {
    specs.push((m[1] ?? m[2])!);
  }
  return specs;
}

function isBrowserSafe(pkg: string, file: string): boolean {
  if (pkg === 'core' || pkg === 'web') return true;
  if (pkg === 'client') return !relative(join(packages, 'client', 'src'), file).startsWith('node');
  if (pkg === 'log') return !relative(join(packages, 'log', 'src'), file).startsWith('service');
  return false;
}

const present = readdirSync(packages).filter((p) => {
  try {
    return statSync(join(packages, p, 'src')).isDirectory();
  } catch {
    return false;
  }
});

describe('layering (docs/ARCHITECTURE.md)', () => {
  it('knows every package', () => {
    for (const p of present) expect(RANK[p], `package ${p} has no layer`).toBeDefined();
  });

  for (const pkg of present) {
    it(`${pkg} imports only lower layers`, () => {
      const bad: string[] = [];
      for (const file of sources(join(packages, pkg, 'src'))) {
        for (const spec of imports(file)) {
          const m = /^@overt\/([a-z]+)/.exec(spec);
          if (m && !(RANK[m[1]!]! < RANK[pkg]!)) bad.push(`${relative(root, file)} -> ${spec}`);
        }
      }
      expect(bad).toEqual([]);
    });
  }

  it('the relay imports neither the witness nor the trustee package (the all-in-one start, @overt/up, does)', () => {
    const bad: string[] = [];
    for (const file of sources(join(packages, 'server', 'src')))
      for (const spec of imports(file))
        if (/^@overt\/(witness|trustee)(\/|$)/.test(spec)) bad.push(`${relative(root, file)} -> ${spec}`);
    expect(bad).toEqual([]);
  });

  it('the web app imports only core, the verifying half of log and the browser half of client (no service, no node)', () => {
    const bad: string[] = [];
    for (const file of sources(join(packages, 'web', 'src')))
      for (const spec of imports(file))
        if (spec.startsWith('@overt/') && !/^@overt\/(core|log|client)$/.test(spec))
          bad.push(`${relative(root, file)} -> ${spec}`);
    expect(bad).toEqual([]);
  });

  it('nothing imports the web app', () => {
    const bad: string[] = [];
    for (const pkg of present.filter((p) => p !== 'web'))
      for (const file of sources(join(packages, pkg, 'src')))
        for (const spec of imports(file))
          if (/^@overt\/web(\/|$)/.test(spec)) bad.push(`${relative(root, file)} -> ${spec}`);
    expect(bad).toEqual([]);
  });

  for (const pkg of present.filter((p) => p === 'core' || p === 'log' || p === 'client' || p === 'web')) {
    it(`${pkg}'s browser-safe sources use no node: module and no Buffer`, () => {
      const bad: string[] = [];
      for (const file of sources(join(packages, pkg, 'src')).filter((f) => isBrowserSafe(pkg, f))) {
        const text = readFileSync(file, 'utf8');
        if (
          imports(file).some(
            (s) => s.startsWith('node:') || s.startsWith('../service') || s.startsWith('./service'),
          )
        ) {
          bad.push(relative(root, file));
        } else if (/\bBuffer\b/.test(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')))
          bad.push(`${relative(root, file)} (Buffer)`);
      }
      expect(bad).toEqual([]);
    });
  }
});
