/**
 * Renders every curve of a results file to SVG: `npx tsx bench/suite/plot.ts [bench/results.json] [--out DIR]`
 * (default bench/plots/). One file per curve id (figures.ts CurvePoint), one line per series, log-scaled x (the
 * curves span orders of magnitude), log-scaled y when the values span more than a factor of 20, each point's
 * spread (min..max over repeats) as a vertical bar, and the baseline of each point as a dashed line of the same
 * colour when the series has one. Hand-written SVG, no dependency; the output is deterministic for a given file.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Figure } from './figures.js';

const W = 720;
const H = 420;
const M = { left: 78, right: 190, top: 44, bottom: 56 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

interface Curve {
  id: string;
  title: string;
  xLabel: string;
  unit: string;
  series: Map<string, Figure[]>;
}

export function curvesOf(figures: readonly Figure[]): Curve[] {
  const byId = new Map<string, Curve>();
  for (const f of figures) {
    if (!f.curve) continue;
    let c = byId.get(f.curve.id);
    if (!c) {
      c = { id: f.curve.id, title: f.curve.title, xLabel: f.curve.x_label, unit: f.unit, series: new Map() };
      byId.set(f.curve.id, c);
    }
    const s = c.series.get(f.curve.series) ?? [];
    s.push(f);
    c.series.set(f.curve.series, s);
  }
  for (const c of byId.values()) for (const s of c.series.values()) s.sort((a, b) => a.curve!.x - b.curve!.x);
  return [...byId.values()];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

interface Axis {
  log: boolean;
  lo: number;
  hi: number;
  at(v: number): number;
  ticks: number[];
}

function axis(values: number[], from: number, to: number, forceLog: boolean | undefined): Axis {
  const positive = values.filter((v) => v > 0);
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  const log = forceLog ?? (positive.length === values.length && lo > 0 && hi / lo > 20);
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
    if (hi === lo) hi = lo * 10;
    const ticks: number[] = [];
    for (let e = Math.log10(lo); e <= Math.log10(hi) + 1e-9; e++) ticks.push(10 ** e);
    const span = Math.log10(hi) - Math.log10(lo);
    return {
      log,
      lo,
      hi,
      ticks,
      at: (v) => from + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / span) * (to - from),
    };
  }
  lo = Math.min(0, lo);
  if (hi === lo) hi = lo + 1;
  const step = niceStep((hi - lo) / 5);
  hi = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(+v.toPrecision(12));
  return { log, lo, hi, ticks, at: (v) => from + ((v - lo) / (hi - lo)) * (to - from) };
}

function niceStep(raw: number): number {
  const e = 10 ** Math.floor(Math.log10(raw));
  const m = raw / e;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * e;
}

/** One curve as an SVG document. */
export function renderCurve(c: Curve): string {
  const all = [...c.series.values()].flat();
  const ys = all.flatMap((f) => [
    f.spread.min,
    f.spread.max,
    ...(f.baseline && f.baseline.unit === f.unit ? [f.baseline.value] : []),
  ]);
  const x = axis(
    all.map((f) => f.curve!.x),
    M.left,
    W - M.right,
    all.every((f) => f.curve!.x > 0) ? undefined : false,
  );
  const y = axis(ys, H - M.bottom, M.top, undefined);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(c.title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2 - M.right / 2 + M.left / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
  );
  for (const t of x.ticks) {
    const px = x.at(t).toFixed(1);
    out.push(
      `<line x1="${px}" y1="${M.top}" x2="${px}" y2="${H - M.bottom}" stroke="#eee"/>`,
      `<text x="${px}" y="${H - M.bottom + 16}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of y.ticks) {
    const py = y.at(t).toFixed(1);
    out.push(
      `<line x1="${M.left}" y1="${py}" x2="${W - M.right}" y2="${py}" stroke="#eee"/>`,
      `<text x="${M.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
    );
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" height="${H - M.top - M.bottom}" fill="none" stroke="#333"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 14}" text-anchor="middle">${esc(c.xLabel)}${x.log ? ' (log scale)' : ''}</text>`,
    `<text transform="translate(18 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(c.unit)}${y.log ? ' (log scale)' : ''}</text>`,
  );
  let i = 0;
  let legendY = M.top + 8;
  /** Baseline lines already drawn (series that share one baseline draw it once). */
  const drawn = new Set<string>();
  for (const [name, figs] of c.series) {
    const colour = COLOURS[i++ % COLOURS.length]!;
    const pts = figs.map((f) => `${x.at(f.curve!.x).toFixed(1)},${y.at(f.value).toFixed(1)}`);
    out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const f of figs) {
      const px = x.at(f.curve!.x).toFixed(1);
      out.push(
        `<line x1="${px}" y1="${y.at(f.spread.min).toFixed(1)}" x2="${px}" y2="${y.at(f.spread.max).toFixed(1)}" stroke="${colour}"/>`,
        `<circle cx="${px}" cy="${y.at(f.value).toFixed(1)}" r="3" fill="${colour}"><title>${esc(f.name)}: ${fmt(f.value)} ${esc(f.unit)}</title></circle>`,
      );
    }
    out.push(
      `<line x1="${W - M.right + 12}" y1="${legendY}" x2="${W - M.right + 32}" y2="${legendY}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${W - M.right + 38}" y="${legendY}" dominant-baseline="middle">${esc(shorten(name, 24))}</text>`,
    );
    legendY += 18;
    const based = figs.filter((f) => f.baseline && f.baseline.unit === f.unit);
    const baseKey = based.map((f) => `${f.curve!.x}:${f.baseline!.value}`).join(' ');
    if (based.length > 0 && !drawn.has(baseKey)) {
      drawn.add(baseKey);
      const bpts = based.map((f) => `${x.at(f.curve!.x).toFixed(1)},${y.at(f.baseline!.value).toFixed(1)}`);
      out.push(
        `<polyline points="${bpts.join(' ')}" fill="none" stroke="${colour}" stroke-width="1" stroke-dasharray="4 3"/>`,
      );
      const label = based[0]!.baseline!.name.replace(/, [^,]*$/, '');
      out.push(
        `<line x1="${W - M.right + 12}" y1="${legendY}" x2="${W - M.right + 32}" y2="${legendY}" stroke="${colour}" stroke-dasharray="4 3"/>`,
        `<text x="${W - M.right + 38}" y="${legendY}" dominant-baseline="middle" font-size="10">${esc(shorten(`baseline: ${label}`, 28))}</text>`,
      );
      legendY += 18;
    }
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function shorten(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

export function plotFile(id: string): string {
  return `${id.replaceAll('/', '_')}.svg`;
}

/** Writes one SVG per curve of `figures` into `dir`; returns the curve ids and file names. */
export function renderAll(
  figures: readonly Figure[],
  dir: string,
): { id: string; title: string; file: string }[] {
  mkdirSync(dir, { recursive: true });
  return curvesOf(figures).map((c) => {
    const file = plotFile(c.id);
    writeFileSync(join(dir, file), renderCurve(c));
    return { id: c.id, title: c.title, file };
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const args = process.argv.slice(2);
  const outAt = args.indexOf('--out');
  const dir = resolve(root, outAt >= 0 ? args[outAt + 1]! : 'bench/plots');
  const file = resolve(
    root,
    args.find((a, i) => !a.startsWith('--') && !(outAt >= 0 && i === outAt + 1)) ?? 'bench/results.json',
  );
  const { figures } = JSON.parse(readFileSync(file, 'utf8')) as { figures: Figure[] };
  for (const p of renderAll(figures, dir)) console.log(join(dir, p.file));
}
