/**
 * The `overt` command: dispatch of `overt <family> <command> …` to the commands of each family, top-level and
 * family help, from the command index (command-index.ts) so that only the command run is loaded.
 *
 * `main` never calls process.exit and writes only through the given {@link Io}, so it runs the same under the
 * process entry (run.ts) and inside tests.
 */

import {
  type Command,
  EXIT_LOCKED,
  EXIT_OK,
  EXIT_STATUS_HELP,
  EXIT_UNAVAILABLE,
  EXIT_USAGE,
  helpText,
  type Io,
  LockedError,
  parseCommandArgs,
  UnavailableError,
  UsageError,
} from './command.js';
import { COMMAND_INDEX, loadCommand } from './command-index.js';

export { EXIT_FAILED, EXIT_LOCKED, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, type Io } from './command.js';

// The index, not the commands: a command's module (and the packages it imports) is loaded only to run it.
const COMMANDS = COMMAND_INDEX;

const VERSION = '0.1.0';

function topHelp(): string {
  const lines = [
    'overt — Overt messaging, transparency log and witness tools',
    '',
    'Usage: overt <family> <command> [options]',
    '',
  ];
  lines.push('Commands:');
  const width = Math.max(...COMMANDS.map((c) => c.path.join(' ').length)) + 4;
  for (const c of COMMANDS) lines.push(`  ${c.path.join(' ').trim().padEnd(width)}${c.summary}`);
  lines.push('', "Run 'overt <family> <command> --help' for a command's options and an example.");
  lines.push(EXIT_STATUS_HELP);
  return `${lines.join('\n')}\n`;
}

function familyHelp(family: string): string {
  const lines = [`Usage: overt ${family} <command> [options]`, '', 'Commands:'];
  for (const c of COMMANDS.filter((c) => c.path[0] === family))
    lines.push(`  ${c.path[1]!.padEnd(14)}${c.summary}`);
  return `${lines.join('\n')}\n`;
}

/** Runs the command named by `argv` (without the node and script paths) and returns its exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [family, name, ...rest] = argv;
  if (family === undefined || family === '--help' || family === '-h' || family === 'help') {
    io.stdout(topHelp());
    return family === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (family === '--version') {
    io.stdout(`${VERSION}\n`);
    return EXIT_OK;
  }
  // A one-word command (`overt send …`) has the path [name, ''].
  const single = COMMANDS.find((c) => c.path[0] === family && c.path[1] === '');
  if (single !== undefined) return runCommand((await loadCommand(single.path))!, argv.slice(1), io);
  if (!COMMANDS.some((c) => c.path[0] === family)) {
    io.stderr(`overt: unknown command family ${JSON.stringify(family)}\n\n${topHelp()}`);
    return EXIT_USAGE;
  }
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout(familyHelp(family));
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const cmd = await loadCommand([family, name]);
  if (cmd === undefined) {
    io.stderr(`overt: unknown command ${JSON.stringify(`${family} ${name}`)}\n\n${familyHelp(family)}`);
    return EXIT_USAGE;
  }
  return runCommand(cmd, rest, io);
}

async function runCommand(cmd: Command, rest: readonly string[], io: Io): Promise<number> {
  const name = cmd.path.join(' ').trim();
  const json = rest.includes('--json');
  try {
    const { values, positionals } = parseCommandArgs(cmd, rest);
    if (values.help === true) {
      io.stdout(helpText(cmd));
      return EXIT_OK;
    }
    return await cmd.run({ values, positionals, json, io });
  } catch (e) {
    if (e instanceof UsageError) {
      if (json) io.stdout(`${JSON.stringify({ ok: false, error: { kind: 'usage', message: e.message } })}\n`);
      io.stderr(`overt ${name}: ${e.message}\nRun 'overt ${name} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    if (e instanceof UnavailableError) {
      if (json)
        io.stdout(`${JSON.stringify({ ok: false, error: { kind: 'unavailable', message: e.message } })}\n`);
      io.stderr(`overt ${name}: ${e.message}\n`);
      return EXIT_UNAVAILABLE;
    }
    if (e instanceof LockedError) {
      if (json)
        io.stdout(`${JSON.stringify({ ok: false, error: { kind: 'locked', message: e.message } })}\n`);
      io.stderr(`overt ${name}: ${e.message}\n`);
      return EXIT_LOCKED;
    }
    throw e;
  }
}
