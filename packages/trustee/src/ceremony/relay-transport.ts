/**
 * The ceremony's transport over the relay (docs/spec/access.md §4): the trustee mailbox (`POST/GET
 * /v1/trustee/mail`) and `POST /v1/trustee/epoch-keys`, each request signed as `trustee:<index>` with the
 * trustee's key (relay.md §3). The relay is untrusted: it authenticates senders, but every mail is signed again
 * and bound to its session (mail.ts), and the epoch key counts only once the trustee's own monitor sees it on
 * the log.
 */

import { requestSigningInput } from '@overt/client';
import {
  fromBase64,
  randomBytes,
  type SigningKeyPair,
  sign,
  toBase64,
  toBase64Url,
  utf8Encode,
} from '@overt/core';
import { TrusteeError } from '../errors.js';
import type { CeremonyTransport, MailboxMessage } from './engine.js';

export class RelayTrusteeClient implements CeremonyTransport {
  private readonly base: string;

  constructor(
    relayUrl: string,
    private readonly index: number,
    private readonly key: SigningKeyPair,
    private readonly now: () => number = Date.now,
  ) {
    this.base = relayUrl.replace(/\/+$/, '');
  }

  private async request(method: 'GET' | 'POST', target: string, json?: unknown): Promise<unknown> {
    const body = json === undefined ? new Uint8Array(0) : utf8Encode(JSON.stringify(json));
    const signer = `trustee:${this.index}`;
    const nonce = randomBytes(16);
    const ts = this.now();
    const signature = sign(this.key, requestSigningInput(method, target, signer, ts, nonce, body));
    const res = await fetch(`${this.base}${target}`, {
      method,
      headers: {
        'overt-signer': signer,
        'overt-timestamp': String(ts),
        'overt-nonce': toBase64Url(nonce),
        'overt-signature': toBase64Url(signature),
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(json === undefined ? {} : { body: Buffer.from(body) }),
    });
    const text = await res.text();
    if (res.status < 200 || res.status > 299) {
      let code = '';
      try {
        code = (JSON.parse(text) as { code?: string }).code ?? '';
      } catch {
        // not problem+json
      }
      throw new TrusteeError(
        'CEREMONY_FAILED',
        `the relay answered ${res.status} ${code} to ${method} ${target}`,
        {
          check: 'CER-8',
        },
      );
    }
    return text === '' ? undefined : JSON.parse(text);
  }

  async send(to: number, body: Uint8Array): Promise<void> {
    await this.request('POST', '/v1/trustee/mail', { to, body: toBase64(body) });
  }

  async read(after: number): Promise<{ messages: MailboxMessage[]; next: number }> {
    const r = (await this.request('GET', `/v1/trustee/mail?after=${after}&limit=100`)) as {
      messages: { seq: number; from: number; to: number; body: string }[];
      next: number;
    };
    if (!r || !Array.isArray(r.messages) || !Number.isSafeInteger(r.next))
      throw new TrusteeError('CEREMONY_INVALID', 'the relay answered a malformed mailbox page', {
        check: 'CER-1',
      });
    const messages: MailboxMessage[] = [];
    for (const m of r.messages) {
      if (!Number.isSafeInteger(m.seq) || !Number.isSafeInteger(m.from) || !Number.isSafeInteger(m.to))
        continue;
      try {
        messages.push({ seq: m.seq, from: m.from, to: m.to, body: fromBase64(m.body) });
      } catch {
        // A body that is not base64 is dropped like any other bad mail (CER-1).
      }
    }
    return { messages, next: r.next };
  }

  async publishEpochKey(statement: Uint8Array): Promise<void> {
    await this.request('POST', '/v1/trustee/epoch-keys', { statement: toBase64(statement) });
  }
}
