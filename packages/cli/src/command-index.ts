/**
 * The index of every `overt` command: its words, its one-line summary and the module that implements it, so that
 * `overt --help` prints without loading any command and `overt send` loads only the module of `send` (and what it
 * imports), not the log server, the witness or the relay (issue #9: start-up; bench/cli/startup.ts). The index
 * must match the modules: command-index.test.ts loads every module and compares.
 */
import type { Command } from './command.js';

export type CommandModule =
  | 'log'
  | 'witness'
  | 'chat'
  | 'member'
  | 'history'
  | 'profile'
  | 'report'
  | 'trustee'
  | 'request'
  | 'order'
  | 'evidence'
  | 'up'
  | 'demo'
  | 'deploy';

export interface IndexEntry {
  readonly path: readonly [string, string];
  readonly summary: string;
  readonly module: CommandModule;
}

/** Every command, in the order of `overt --help`. */
export const COMMAND_INDEX: readonly IndexEntry[] = [
  {
    path: ['up', ''],
    summary: 'start the whole system on this machine: relay, log, two witnesses, three trustee daemons',
    module: 'up',
  },
  {
    path: ['demo', ''],
    summary: 'tell the access story against a live system, checking every step, then attempt attacks A1–A16',
    module: 'demo',
  },
  {
    path: ['init', ''],
    summary: "set up a real organisation: the relay's data directory, the admin key and the signed policy",
    module: 'deploy',
  },
  {
    path: ['relay', 'serve'],
    summary: 'run the relay of a real deployment (with its log) from the directory `overt init` made',
    module: 'deploy',
  },
  {
    path: ['log', 'init'],
    summary: "create the log's checkpoint key in a data directory (if missing) and print its vkey",
    module: 'log',
  },
  {
    path: ['log', 'serve'],
    summary: 'run a standalone transparency log (C2SP tlog-tiles) that has its checkpoints witnessed',
    module: 'log',
  },
  {
    path: ['log', 'verify'],
    summary:
      'verify a remote log end to end: signature, witness quorum, consistency, tree recomputed from tiles',
    module: 'log',
  },
  {
    path: ['log', 'check-proof'],
    summary: 'check a C2SP tlog-proof receipt offline: checkpoint signature, witness quorum, inclusion',
    module: 'log',
  },
  {
    path: ['log', 'stats'],
    summary:
      'public statistics of exceptional access from a verified log: requests, approvals, releases, seals',
    module: 'log',
  },
  {
    path: ['witness', 'init'],
    summary: 'create the witness key in a data directory (if missing) and print its vkey',
    module: 'witness',
  },
  {
    path: ['witness', 'serve'],
    summary: 'run a witness: check and cosign checkpoints submitted by the configured logs',
    module: 'witness',
  },
  { path: ['device', 'init'], summary: 'create a device key in a new profile directory', module: 'chat' },
  {
    path: ['device', 'approve'],
    summary: 'approve one of your own devices, so log monitoring stops alerting on it',
    module: 'chat',
  },
  {
    path: ['admin', 'enrol'],
    summary: "enrol a user's device: sign the device-added statement and log it",
    module: 'chat',
  },
  { path: ['chat', 'new'], summary: 'create a conversation with other users', module: 'chat' },
  { path: ['chat', 'list'], summary: "list this device's conversations and their members", module: 'chat' },
  { path: ['chat', 'rename'], summary: 'name or rename a conversation for all its members', module: 'chat' },
  { path: ['send', ''], summary: 'send a text message or a file to a conversation', module: 'chat' },
  { path: ['read', ''], summary: 'fetch and print new messages', module: 'chat' },
  { path: ['watch', ''], summary: 'print messages as they arrive, until Ctrl-C', module: 'chat' },
  {
    path: ['notices', ''],
    summary: 'show what unsealed access requests opened of your messages (who asked, why, approved by whom)',
    module: 'chat',
  },
  {
    path: ['chat', 'add'],
    summary: 'add users (all their enrolled devices) to a conversation',
    module: 'member',
  },
  {
    path: ['chat', 'remove'],
    summary: 'remove users (all their devices) from a conversation',
    module: 'member',
  },
  { path: ['history', ''], summary: 'show the messages read or watch printed before', module: 'history' },
  {
    path: ['device', 'passphrase'],
    summary: 'change the passphrase that encrypts a profile',
    module: 'profile',
  },
  {
    path: ['file', 'save'],
    summary: 'write a received file out of the encrypted profile',
    module: 'profile',
  },
  {
    path: ['report', ''],
    summary: 'report a received message to the organisation (abuse report)',
    module: 'report',
  },
  { path: ['admin', 'reports'], summary: 'list abuse reports, or read one (--id)', module: 'report' },
  {
    path: ['trustee', 'init'],
    summary:
      "create a trustee's encrypted vault and keys on this machine and print the public keys for the policy",
    module: 'trustee',
  },
  {
    path: ['trustee', 'serve'],
    summary: 'run a trustee daemon: vault, key ceremonies, request review and the release rule',
    module: 'trustee',
  },
  {
    path: ['trustee', 'review'],
    summary: 'list the access requests awaiting this trustee, with their confidential details',
    module: 'trustee',
  },
  {
    path: ['trustee', 'approve'],
    summary: 'approve an access request: sign the decision and submit it to the relay',
    module: 'trustee',
  },
  {
    path: ['trustee', 'deny'],
    summary: 'deny an access request: sign the denial and submit it to the relay',
    module: 'trustee',
  },
  {
    path: ['trustee', 'extend'],
    summary: "approve (sign) or deny a requester's proposal to extend a request's seal",
    module: 'trustee',
  },
  {
    path: ['trustee', 'shred'],
    summary: "shred this trustee's share of an epoch: erase it for good and log a signed shred statement",
    module: 'trustee',
  },
  {
    path: ['request', 'file'],
    summary: 'file an access request: signed, its confidential part sealed to every trustee, logged',
    module: 'request',
  },
  {
    path: ['request', 'status'],
    summary: "show a request's decisions, execution, releases and refusals, verified against the log",
    module: 'request',
  },
  {
    path: ['request', 'collect'],
    summary: 'download an executed request, verify every share and open each envelope (no plaintext written)',
    module: 'request',
  },
  {
    path: ['request', 'open'],
    summary: 'write the evidence bundle of an executed request: every message opened, with its proofs',
    module: 'request',
  },
  {
    path: ['request', 'extend'],
    summary: "propose pushing a request's seal date back; k trustees must sign it before the current date",
    module: 'request',
  },
  {
    path: ['order', 'file'],
    summary: 'file a standing order over recorded users (or renew one): k trustees approve it, then it runs',
    module: 'order',
  },
  {
    path: ['order', 'status'],
    summary: 'show a standing order: decisions, state, every batch with its count, releases and refusals',
    module: 'order',
  },
  {
    path: ['order', 'archive'],
    summary: 'the compliance archive: collect every released batch of an order, kept encrypted at rest',
    module: 'order',
  },
  {
    path: ['order', 'recorded'],
    summary: 'org admin: add users to or remove them from the recorded group (a new policy serial, logged)',
    module: 'order',
  },
  {
    path: ['evidence', 'verify'],
    summary: 'verify an evidence bundle offline: receipts, signatures, shares, every message',
    module: 'evidence',
  },
];

/** Loads the commands of one module. */
export async function loadModule(module: CommandModule): Promise<readonly Command[]> {
  switch (module) {
    case 'log':
      return (await import('./log-commands.js')).logCommands;
    case 'witness':
      return (await import('./witness-commands.js')).witnessCommands;
    case 'chat':
      return (await import('./chat-commands.js')).chatCommands;
    case 'member':
      return (await import('./member-commands.js')).memberCommands;
    case 'history':
      return (await import('./history-commands.js')).historyCommands;
    case 'profile':
      return (await import('./profile-commands.js')).profileCommands;
    case 'report':
      return (await import('./report-commands.js')).reportCommands;
    case 'trustee':
      return (await import('./trustee-commands.js')).trusteeCommands;
    case 'request':
      return (await import('./request-commands.js')).requestCommands;
    case 'order':
      return (await import('./order-commands.js')).orderCommands;
    case 'evidence':
      return (await import('./evidence-commands.js')).evidenceCommands;
    case 'up':
      return (await import('./up-commands.js')).upCommands;
    case 'demo':
      return (await import('./demo-commands.js')).demoCommands;
    case 'deploy':
      return (await import('./deploy-commands.js')).deployCommands;
  }
}

/** The command at `path`, its module loaded; undefined when there is none. */
export async function loadCommand(path: readonly [string, string]): Promise<Command | undefined> {
  const entry = COMMAND_INDEX.find((e) => e.path[0] === path[0] && e.path[1] === path[1]);
  if (entry === undefined) return undefined;
  return (await loadModule(entry.module)).find((c) => c.path[0] === path[0] && c.path[1] === path[1]);
}
