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
