// The argument rules of every `overt` command (docs/spec/cli.md §1.1): a value that begins with `-` (a base64url
// id does one time in 64) is read as the value of the option before it, a single-dash token as a positional,
// `--` ends the options; and the reasons shown for unreadable files and unreachable relays.
import { describe, expect, it } from 'vitest';
import {
  type Command,
  fileReason,
  networkReason,
  normaliseArgs,
  parseCommandArgs,
  UsageError,
} from './command.js';

const cmd: Command = {
  path: ['file', 'save'],
  summary: 's',
  positionals: ['MESSAGE_ID'],
  options: {
    to: { type: 'string', description: 'd' },
    flag: { type: 'boolean', description: 'd' },
  },
  examples: [],
  run: async () => 0,
};

describe('ids that begin with - (cli.md §1.1)', () => {
  it('an option value beginning with - or -- is the value, not an option', () => {
    for (const v of ['-ndgsAAAA', '--xyzAAAA', '-', '--']) {
      const r = parseCommandArgs(cmd, ['--to', v, 'id']);
      expect(r.values.to).toBe(v);
      expect(r.positionals).toEqual(['id']);
    }
  });

  it('a positional beginning with - is a positional; one beginning with -- goes after --', () => {
    expect(parseCommandArgs(cmd, ['-AbCd', '--flag']).positionals).toEqual(['-AbCd']);
    expect(parseCommandArgs(cmd, ['--flag', '--', '--AbCd']).positionals).toEqual(['--AbCd']);
    expect(() => parseCommandArgs(cmd, ['--AbCd'])).toThrow(/goes after '--'/);
  });

  it('normalises to the form parseArgs reads unambiguously, options then positionals', () => {
    const opts = { to: { type: 'string' as const }, flag: { type: 'boolean' as const } };
    expect(normaliseArgs(opts, ['-x', '--to', '-y', '--flag', '-h'])).toEqual([
      '--to=-y',
      '--flag',
      '--help',
      '--',
      '-x',
    ]);
    // A string option last, without its value, is left for parseArgs to refuse.
    expect(() => parseCommandArgs(cmd, ['id', '--to'])).toThrow(UsageError);
  });

  it('too many or too few positionals are usage errors', () => {
    expect(() => parseCommandArgs(cmd, [])).toThrow(/expected MESSAGE_ID/);
    expect(() => parseCommandArgs(cmd, ['a', 'b'])).toThrow(UsageError);
    const text = { ...cmd, positionals: ['[TEXT…]'] };
    expect(parseCommandArgs(text, []).positionals).toEqual([]);
    expect(parseCommandArgs(text, ['a', '-b']).positionals).toEqual(['a', '-b']);
  });
});

describe('reasons in errors (cli.md §4.1)', () => {
  it('names why a file cannot be read', () => {
    expect(fileReason({ code: 'ENOENT' })).toContain('ENOENT');
    expect(fileReason({ code: 'EACCES' })).toContain('permission denied');
    expect(fileReason({ code: 'EISDIR' })).toContain('directory');
    expect(fileReason(new Error('x'))).toBe('unreadable');
  });

  it('finds the system error code inside a failed fetch', async () => {
    const e = await fetch('http://nonexistent.invalid/').catch((x: unknown) => x);
    expect(networkReason(e)).toMatch(/^(ENOTFOUND|EAI_AGAIN)$/);
    expect(networkReason(new Error('plain'))).toBeUndefined();
  });
});
