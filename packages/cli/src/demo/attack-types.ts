/**
 * The contract between `overt demo`'s story (demo.ts) and its attacks (attacks.ts): DESIGN §6's A1–A16, each
 * attempted against the live system the way its attacker would, and each reported as blocked or detected only if
 * the demo attempted it and saw it fail (docs/spec/demo.md).
 */

export const ATTACK_IDS = [
  'A1',
  'A2',
  'A3',
  'A4',
  'A5',
  'A6',
  'A7',
  'A8',
  'A9',
  'A10',
  'A11',
  'A12',
  'A13',
  'A14',
  'A15',
  'A16',
] as const;

export type AttackId = (typeof ATTACK_IDS)[number];

/**
 * `blocked`: the attack was refused (no data, no share, no key, an error with its check ID).
 * `detected`: the attack went through at the relay but a monitor flagged it (an alert with its check ID).
 * `not-stopped`: the attack was attempted and neither happened — the demo then reports `ok: false`.
 */
export type AttackOutcome = 'blocked' | 'detected' | 'not-stopped';

export interface AttackResult {
  readonly id: AttackId;
  readonly outcome: AttackOutcome;
  /** One line: who attacks and what they try (DESIGN §6's attack column, in the demo's words). */
  readonly attempt: string;
  /** One line: what stopped it — the error code or alert and its check ID, as the demo saw it. */
  readonly seen: string;
}

/** What the attacks get from the demo: the live system and where its parties keep their keys. */
export interface AttackContext {
  /** The relay's base URL (the log is served by the relay at `<url>/log/`). */
  readonly relayUrl: string;
  /** The data directory of `overt up` (relay, witnesses, trustees, requester, demo users under it). */
  readonly dataDir: string;
  /** Called once per attack, as it finishes, so the demo can print it as it goes. */
  readonly onResult?: (result: AttackResult) => void;
}

/** Runs A1–A16 in order; resolves with one result per attack, never throws for an attack that was stopped. */
export type RunAttacks = (ctx: AttackContext) => Promise<readonly AttackResult[]>;
