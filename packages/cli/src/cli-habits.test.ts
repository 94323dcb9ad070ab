// CLI habits of issue #12, for every command in the index: `--help` prints the usage with an example and exits 0;
// an option the command does not know gives one clear line on stderr (and the pointer to --help), nothing on
// stdout, and exit 2 (usage).
// Run in process (main() with captured io), so the sweep over every command stays quick.
import { describe, expect, it } from 'vitest';
import { runInProcess } from '../test/run-cli.js';
import { EXIT_OK, EXIT_USAGE } from './command.js';
import { COMMAND_INDEX } from './command-index.js';

const words = (path: readonly [string, string]) => path.filter((w) => w !== '');

describe('every command, as a user mistypes it', () => {
  it.each(COMMAND_INDEX.map((e) => [words(e.path).join(' '), e] as const))(
    'overt %s: --help shows an example; an unknown option is one line and exit 2',
    async (_name, entry) => {
      const help = await runInProcess([...words(entry.path), '--help']);
      expect(help.code).toBe(EXIT_OK);
      expect(help.stdout).toMatch(/example/i);
      expect(help.stdout).toContain(`overt ${words(entry.path).join(' ')}`);

      const bad = await runInProcess([...words(entry.path), '--no-such-option']);
      expect(bad.code).toBe(EXIT_USAGE);
      expect(bad.stdout).toBe('');
      // One line that says why, then the usual pointer to --help (cli.md §1.1).
      const name = words(entry.path).join(' ');
      const lines = bad.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toContain('--no-such-option');
      expect(lines[1]).toBe(`Run 'overt ${name} --help' for usage.`);
    },
  );
});
