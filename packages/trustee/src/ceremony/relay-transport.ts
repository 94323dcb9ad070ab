/**
 * The ceremony's transport over the relay (docs/spec/access.md §4): the trustee mailbox (`POST/GET
 * /v1/trustee/mail`) and `POST /v1/trustee/epoch-keys`, through the client's {@link AccessRelayClient}, every
 * request signed as `trustee:<index>` (relay.md §3). The relay is untrusted: it authenticates senders, but every
 * mail is signed again and bound to its session (mail.ts), and an epoch key counts only once the trustee's own
 * monitor sees it on the log.
 */
import { AccessRelayClient } from '@overt/client';
import type { SigningKeyPair } from '@overt/core';
import { TrusteeError } from '../errors.js';
import type { CeremonyTransport, MailboxMessage } from './engine.js';

/** Mailbox messages fetched per request. */
const PAGE = 100;

export class RelayTrusteeClient implements CeremonyTransport {
  readonly client: AccessRelayClient;

  constructor(relayUrl: string, index: number, key: SigningKeyPair, now: () => number = Date.now) {
    this.client = new AccessRelayClient({
      url: relayUrl.replace(/\/+$/, ''),
      signer: { kind: 'trustee', index, key },
      now,
    });
  }

  private static wrap(e: unknown, what: string): TrusteeError {
    return new TrusteeError('CEREMONY_FAILED', `the relay refused ${what}`, { check: 'CER-8', cause: e });
  }

  async send(to: number, body: Uint8Array): Promise<void> {
    try {
      await this.client.sendMail(to, body);
    } catch (e) {
      throw RelayTrusteeClient.wrap(e, 'a mailbox message');
    }
  }

  async read(after: number): Promise<{ messages: MailboxMessage[]; next: number }> {
    let page: Awaited<ReturnType<AccessRelayClient['readMail']>>;
    try {
      page = await this.client.readMail(after, PAGE);
    } catch (e) {
      throw RelayTrusteeClient.wrap(e, 'reading the mailbox');
    }
    const messages = [...page.items];
    const last = messages[messages.length - 1];
    return { messages, next: last ? last.seq : after };
  }

  async publishEpochKey(statement: Uint8Array): Promise<void> {
    try {
      await this.client.publishEpochKey(statement);
    } catch (e) {
      throw RelayTrusteeClient.wrap(e, 'the epoch-key statement');
    }
  }
}
