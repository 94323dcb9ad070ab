// The command index (command-index.ts) lists exactly the commands its modules implement, with their summaries,
// so that `overt --help` (printed from the index alone) never disagrees with the commands that run.
import { describe, expect, it } from 'vitest';
import { COMMAND_INDEX, type CommandModule, loadModule } from './command-index.js';

describe('command index', () => {
  it('matches every command module: same paths, summaries and order', async () => {
    const modules = [...new Set(COMMAND_INDEX.map((e) => e.module))] as CommandModule[];
    const actual = [];
    for (const m of modules)
      for (const c of await loadModule(m)) actual.push({ path: c.path, summary: c.summary, module: m });
    expect(actual).toEqual(COMMAND_INDEX);
  });
});

describe('CLI habits (issue #12)', () => {
  it('every command has a summary and at least one example that runs that very command', async () => {
    const modules = [...new Set(COMMAND_INDEX.map((e) => e.module))] as CommandModule[];
    const problems: string[] = [];
    for (const m of modules)
      for (const c of await loadModule(m)) {
        const words = ['overt', ...c.path.filter((w) => w !== '')].join(' ');
        if (c.summary.trim() === '') problems.push(`${words}: no summary`);
        if (c.examples.length === 0) problems.push(`${words}: no example`);
        for (const example of c.examples) {
          const e = example.replace(/^([A-Z_]+=\S+\s+)+/, ''); // environment set for the command
          if (e !== words && !e.startsWith(`${words} `))
            problems.push(`${words}: example "${e}" runs another command`);
        }
      }
    expect(problems).toEqual([]);
  });
});
