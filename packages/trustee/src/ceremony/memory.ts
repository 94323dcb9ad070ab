/**
 * In-process stand-ins for the relay's trustee mailbox and the log, so the ceremony's logic can be exercised
 * without a relay (docs/spec/access.md §7). The mailbox keeps the relay's semantics (one sequence for everyone,
 * a message to 0 reaches every trustee, the sender authenticated); the log verifies each statement exactly as the
 * relay does (verifyEpochKeyStatement under the policy in force) and keeps the first one per epoch and policy.
 */
import { equalBytes, type VerifiedPolicy, verifyEpochKeyStatement } from '@overt/core';
import type { CeremonyLog, CeremonyTransport, LoggedEpochKey, MailboxMessage } from './engine.js';

export class MemoryMailbox {
  readonly messages: MailboxMessage[] = [];

  /** The transport of trustee `index`: its sends are authenticated as `index`. */
  transport(index: number): CeremonyTransport {
    return {
      send: async (to, body) => {
        this.messages.push({ seq: this.messages.length + 1, from: index, to, body: body.slice() });
      },
      read: async (after) => {
        const messages = this.messages
          .filter((m) => m.seq > after && (m.to === 0 || m.to === index))
          .slice(0, 100);
        const next = messages.length > 0 ? messages[messages.length - 1]!.seq : after;
        return { messages, next };
      },
    };
  }
}

export class MemoryLog implements CeremonyLog {
  private inForce: VerifiedPolicy | undefined;
  readonly statements: LoggedEpochKey[] = [];

  constructor(policy?: VerifiedPolicy) {
    this.inForce = policy;
  }

  setPolicy(policy: VerifiedPolicy): void {
    this.inForce = policy;
  }

  policy(): VerifiedPolicy | undefined {
    return this.inForce;
  }

  epochKey(epoch: number): LoggedEpochKey | undefined {
    const all = this.statements.filter((s) => s.statement.epoch === epoch);
    return all[all.length - 1];
  }

  async publish(statement: Uint8Array): Promise<void> {
    const policy = this.inForce;
    if (!policy) throw new Error('no policy');
    const decoded = verifyEpochKeyStatement(policy, statement);
    const existing = this.epochKey(decoded.epoch);
    if (existing && equalBytes(existing.policy.hash, policy.hash)) {
      if (equalBytes(existing.statement.transcriptHash, decoded.transcriptHash)) return;
      throw new Error('this epoch already has a key under this policy');
    }
    // A later statement for an epoch is a resharing: it must keep the group key.
    if (existing && !equalBytes(existing.statement.groupKey, decoded.groupKey))
      throw new Error('a resharing must keep the group key');
    this.statements.push({ statement: decoded, policy });
  }
}
