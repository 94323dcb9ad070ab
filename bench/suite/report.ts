/**
 * Writes BENCHMARKS.md's generated section from a results file: `npx tsx bench/suite/report.ts
 * [bench/results.json] [--plots DIR] [--md FILE]` (defaults bench/plots, BENCHMARKS.md). It renders the plots
 * (plot.ts), then replaces what lies between the markers below with: the machine and run, a table per part of
 * every figure (value and spread, target, baseline, ratio, the command that reproduces it), and the plots.
 * Everything outside the markers (the prose of earlier issues) is kept as it is.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Figure } from './figures.js';
import { renderAll } from './plot.js';
import type { Results } from './run.js';

export const START = '<!-- bench:generated:start (npx tsx bench/suite/report.ts; do not edit by hand) -->';
export const END = '<!-- bench:generated:end -->';

function num(v: number): string {
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return `${+v.toPrecision(3)}`;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function valueCell(f: Figure): string {
  const spread =
    f.repeats > 1 && f.spread.min !== f.spread.max
      ? ` (${num(f.spread.min)}–${num(f.spread.max)}, n=${f.repeats})`
      : '';
  return `**${num(f.value)}** ${f.unit}${spread}`;
}

function targetCell(f: Figure): string {
  if (f.target === null) return '';
  return `${f.higher_is_better ? '≥' : '≤'} ${num(f.target)} ${f.meets_target ? '✅' : '❌'}`;
}

/** The generated Markdown between the markers. */
export function generate(
  results: Results,
  plots: { id: string; title: string; file: string }[],
  plotDir: string,
): string {
  const m = results.machine;
  const lines: string[] = [
    START,
    '',
    `Generated from \`bench/results.json\`: \`${results.command}\`, ${results.date}, Node ${results.node}, ${m.cpu_model} × ${m.cores} cores, ${(m.memory_bytes / 2 ** 30).toFixed(1)} GiB, ${m.platform}; load average ${m.load_average.start} at the start, ${m.load_average.end} at the end${results.quick ? '; **quick run** (short samples, small sizes)' : ''}.`,
    'Value = median over the repeats (their min–max and count in brackets); ratio = value / baseline, both measured in the same run.',
    '',
  ];
  const parts = results.parts;
  lines.push('| part | status | ran | seconds | reproduce |', '|---|---|---|---|---|');
  for (const p of parts)
    lines.push(
      `| ${p.name} | ${p.status}${p.error ? `: ${cell(p.error.slice(0, 160))}` : ''}${p.note ? ` (${cell(p.note)})` : ''} | ${p.started} | ${p.seconds} | \`${p.command}\` |`,
    );
  for (const p of parts) {
    const figs = results.figures.filter((f) => f.part === p.name);
    if (figs.length === 0) continue;
    lines.push('', `#### ${p.name}`, '', `Reproduce: \`${figs[0]!.command}\``, '');
    lines.push(
      '| figure | value | target | baseline (same run) | ratio | reproduce |',
      '|---|---|---|---|---|---|',
    );
    for (const f of figs) {
      const name = f.name.slice(p.name.length + 2);
      const base = f.baseline ? `${cell(f.baseline.name)}: ${num(f.baseline.value)} ${f.baseline.unit}` : '—';
      const note = f.note ? `<br><sub>${cell(f.note)}</sub>` : '';
      lines.push(
        `| ${cell(name)}${note} | ${valueCell(f)} | ${targetCell(f)} | ${base} | ${f.ratio === null ? '' : num(f.ratio)} | \`${f.command}\` |`,
      );
    }
  }
  if (plots.length > 0) {
    lines.push(
      '',
      '#### Curves',
      '',
      'Rendered by `npx tsx bench/suite/plot.ts` from the same file: dashed lines are each point’s same-run baseline, bars the spread over repeats.',
      '',
    );
    for (const p of plots) lines.push(`![${p.title}](${plotDir}/${p.file})`, '');
  }
  lines.push('', END);
  return lines.join('\n');
}

/** Replaces the generated section of `md` (or inserts it before the first "## " heading after the intro). */
export function splice(md: string, generated: string): string {
  const a = md.indexOf(START);
  const b = md.indexOf(END);
  if (a >= 0 && b > a) return md.slice(0, a) + generated + md.slice(b + END.length);
  const at = md.indexOf('\n## ');
  const heading = '\n## The suite: every figure of the last run\n\n';
  return at < 0
    ? `${md}\n${heading}${generated}\n`
    : `${md.slice(0, at)}\n${heading}${generated}\n${md.slice(at)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const args = process.argv.slice(2);
  const opt = (name: string, fallback: string) => {
    const i = args.indexOf(name);
    return resolve(root, i >= 0 ? args[i + 1]! : fallback);
  };
  const values = new Set(
    ['--plots', '--md']
      .map((o) => args.indexOf(o))
      .filter((i) => i >= 0)
      .map((i) => i + 1),
  );
  const file = resolve(
    root,
    args.find((a, i) => !a.startsWith('--') && !values.has(i)) ?? 'bench/results.json',
  );
  const plotsDir = opt('--plots', 'bench/plots');
  const mdFile = opt('--md', 'BENCHMARKS.md');
  const results = JSON.parse(readFileSync(file, 'utf8')) as Results;
  const plots = renderAll(results.figures, plotsDir);
  const md = readFileSync(mdFile, 'utf8');
  writeFileSync(mdFile, splice(md, generate(results, plots, relative(dirname(mdFile), plotsDir))));
  console.log(`${relative(root, mdFile)}: ${results.figures.length} figures, ${plots.length} plots`);
}
