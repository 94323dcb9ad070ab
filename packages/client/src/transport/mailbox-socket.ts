/**
 * The mailbox WebSocket (docs/spec/relay.md §6.6; client.md §2.3): the relay pushes mailbox items as they commit,
 * so an online device learns of new messages without polling. The first frame authenticates, signed as a `GET` of
 * `/v1/ws` with an empty body (browsers cannot set headers on an upgrade).
 *
 * The socket is only a wake-up signal for the SDK: items are processed by `OvertClient.sync()`, which reads the
 * mailbox over HTTP in seq order, so a lost or duplicated push never loses or repeats a message.
 */
import type { SigningKeyPair } from '@overt/core';
import { ClientError } from '../errors.js';
import { type RequestSigner, signRelayRequest } from './signing.js';

/** The part of the WHATWG WebSocket this module uses (the browser's, Node 22's global, or the `ws` package). */
export interface WebSocketLike {
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface MailboxSocketOptions {
  readonly url: string;
  readonly key: SigningKeyPair;
  readonly signer: RequestSigner;
  /** Default: the global `WebSocket` (browsers, Node ≥ 22). Node 20 needs one injected (e.g. `ws`). */
  readonly WebSocket?: WebSocketConstructor;
  readonly now?: () => number;
  /** Called for every `items` frame with the highest seq it carried. */
  readonly onItems: (maxSeq: number) => void;
  /** Called once when the socket closes, with the close code (4401 authentication, 4403 device removed). */
  readonly onClose?: (code: number) => void;
}

/** An authenticated mailbox socket. `open()` resolves once the relay said `ready`. */
export class MailboxSocket {
  private constructor(private readonly ws: WebSocketLike) {}

  /** Throws RELAY_UNAVAILABLE when the socket cannot be opened or is closed before `ready`. */
  static open(options: MailboxSocketOptions): Promise<MailboxSocket> {
    const Ctor =
      options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket ?? undefined;
    if (Ctor === undefined) throw new ClientError('SDK_USAGE', 'no WebSocket implementation available');
    const ws = new Ctor(`${options.url.replace(/^http/, 'ws')}/v1/ws`);
    const socket = new MailboxSocket(ws);
    return new Promise((resolve, reject) => {
      let ready = false;
      ws.onopen = () => {
        const h = signRelayRequest(
          options.key,
          options.signer,
          'GET',
          '/v1/ws',
          new Uint8Array(0),
          (options.now ?? Date.now)(),
        );
        ws.send(
          JSON.stringify({
            type: 'auth',
            signer: h['overt-signer'],
            timestamp: h['overt-timestamp'],
            nonce: h['overt-nonce'],
            signature: h['overt-signature'],
          }),
        );
      };
      ws.onmessage = (ev) => {
        let frame: { type?: unknown; items?: unknown };
        try {
          frame = JSON.parse(String(ev.data));
        } catch {
          return;
        }
        if (frame.type === 'ready' && !ready) {
          ready = true;
          resolve(socket);
        } else if (frame.type === 'items' && Array.isArray(frame.items)) {
          let max = 0;
          for (const i of frame.items as { seq?: unknown }[])
            if (typeof i?.seq === 'number' && i.seq > max) max = i.seq;
          options.onItems(max);
        }
      };
      ws.onerror = () => {};
      ws.onclose = (ev) => {
        if (!ready)
          reject(new ClientError('RELAY_UNAVAILABLE', `mailbox socket closed before ready (${ev.code})`));
        options.onClose?.(ev.code);
      };
    });
  }

  close(): void {
    this.ws.close();
  }
}
