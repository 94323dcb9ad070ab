// The progress bar of long commands (docs/spec/cli.md §9): drawn on stderr only when stderr is a terminal and the
// output is not --json; quiet otherwise, so scripts and pipes see only the result.
import { describe, expect, it } from 'vitest';
import { Progress, paintFor } from './tty.js';

function ctx(json: boolean, stderrIsTTY: boolean | undefined) {
  let err = '';
  return {
    c: {
      json,
      io: { stderr: (t: string) => (err += t), ...(stderrIsTTY !== undefined ? { stderrIsTTY } : {}) },
    },
    err: () => err,
  };
}

describe('Progress', () => {
  it('draws a bar with the count on a terminal and erases it at the end', () => {
    const x = ctx(false, true);
    const bar = Progress.for(x.c, 'downloading', 4);
    bar.tick();
    bar.tick(3);
    expect(x.err()).toContain('downloading [');
    expect(x.err()).toContain('4/4');
    expect(x.err()).toContain('#'.repeat(30));
    bar.end();
    expect(x.err().endsWith('\r\u001b[2K')).toBe(true);
  });

  it('is silent under --json, when stderr is not a terminal, or when nobody said', () => {
    for (const [json, tty] of [
      [true, true],
      [false, false],
      [false, undefined],
    ] as const) {
      const x = ctx(json, tty);
      const bar = Progress.for(x.c, 'downloading', 2);
      bar.tick(2);
      bar.end();
      expect(x.err()).toBe('');
    }
  });
});

describe('paintFor', () => {
  const io = (stdoutIsTTY: boolean, env: Record<string, string | undefined> = {}) => ({ stdoutIsTTY, env });
  it('colours only on a terminal, without --json and without NO_COLOR', () => {
    expect(paintFor({ json: false, io: io(true) }).ok('x')).toBe('\u001b[32mx\u001b[0m');
    expect(paintFor({ json: false, io: io(false) }).ok('x')).toBe('x');
    expect(paintFor({ json: true, io: io(true) }).bad('x')).toBe('x');
    expect(paintFor({ json: false, io: io(true, { NO_COLOR: '1' }) }).dim('x')).toBe('x');
  });
});
