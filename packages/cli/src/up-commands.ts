/**
 * `overt up`: the all-in-one start (`npm start` runs the same `main` of @overt/up): the relay with its log, two
 * witnesses and three trustee daemons as separate processes on SQLite under ./data (docs/spec/start.md).
 */
import { type Command, optionalString } from './command.js';

const OPTIONS = ['port', 'data', 'host', 'org', 'witness-ports', 'log-level'] as const;

const up: Command = {
  path: ['up', ''],
  summary: 'start the whole system on this machine: relay, log, two witnesses, three trustee daemons',
  positionals: [],
  options: {
    port: {
      type: 'string',
      value: 'N',
      description: "the relay's port (default 8420; 0 picks a free one); witnesses use N+1 and N+2",
    },
    data: {
      type: 'string',
      value: 'DIR',
      description: 'data directory (default ./data), reused on every start',
    },
    host: { type: 'string', value: 'HOST', description: 'interface to listen on (default 127.0.0.1)' },
    org: {
      type: 'string',
      value: 'ID',
      description: 'the organisation id of a new data directory (default overt.localhost)',
    },
    'witness-ports': {
      type: 'string',
      value: 'A,B',
      description: "the witnesses' ports (0 picks free ones)",
    },
    'log-level': {
      type: 'string',
      value: 'L',
      description: 'request log lines (JSON, stdout): debug|info|warn|error|silent (default info)',
    },
  },
  details:
    'Prints where everything runs (URLs, the log and witness keys, the admin key file) and stops everything on\n' +
    'SIGINT or SIGTERM. A second start reuses the data directory. `npm start` runs this command.',
  examples: ['overt up', 'overt up --port 9420 --data ./data-test'],
  async run(ctx) {
    const argv: string[] = [];
    for (const name of OPTIONS) {
      const v = optionalString(ctx, name);
      if (v !== undefined) argv.push(`--${name}`, v);
    }
    // Loaded only here: the relay, the log service and the process supervisor are large.
    const { main } = await import('@overt/up');
    return main(argv);
  },
};

export const upCommands: readonly Command[] = [up];
