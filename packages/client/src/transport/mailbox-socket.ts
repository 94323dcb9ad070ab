/**
 * The mailbox WebSocket (docs/spec/relay.md §6.6; client.md §2.3): the relay pushes mailbox items as they commit,
 * so an online device learns of new messages without polling. The first frame authenticates, signed as a `GET` of
 * `/v1/ws` with an empty body (browsers cannot set headers on an upgrade).
 *
 * The socket is only a wake-up signal for the SDK: items are processed by `OvertClient.sync()`, which reads the
 * mailbox over HTTP in seq order, so a lost or duplicated push never loses or repeats a message.
 *
 * It is also the high-throughput send path (relay.md §6.8): {@link MailboxSocket.send} carries one message —
 * group, MLS application message, inline envelope — in one binary frame, answered per frame.
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
  send(data: string | Uint8Array): void;
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

/** The relay's answer to a send frame that was stored (relay.md §6.8). */
export interface SendResult {
  readonly result: 'stored' | 'duplicate';
  /** Mailboxes the message went to (0 for a duplicate). */
  readonly recipients: number;
}

const FRAME_SEND = 0x01;

/** The send frame of relay.md §6.8: `u8 1 ‖ u32 id ‖ u8 g ‖ groupId ‖ u32 m ‖ message ‖ envelope`. */
export function encodeSendFrame(
  requestId: number,
  groupId: Uint8Array,
  message: Uint8Array,
  envelope: Uint8Array,
): Uint8Array {
  if (groupId.length < 1 || groupId.length > 64) throw new ClientError('SDK_USAGE', 'group id length');
  const out = new Uint8Array(10 + groupId.length + message.length + envelope.length);
  const view = new DataView(out.buffer);
  out[0] = FRAME_SEND;
  view.setUint32(1, requestId);
  out[5] = groupId.length;
  out.set(groupId, 6);
  const at = 6 + groupId.length;
  view.setUint32(at, message.length);
  out.set(message, at + 4);
  out.set(envelope, at + 4 + message.length);
  return out;
}

interface Waiting {
  readonly resolve: (r: SendResult) => void;
  readonly reject: (e: unknown) => void;
}

/** An authenticated mailbox socket. `open()` resolves once the relay said `ready`. */
export class MailboxSocket {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private closedCode: number | undefined;

  private constructor(private readonly ws: WebSocketLike) {}

  /**
   * Sends one message (relay.md §6.8): resolves once the relay stored it (or found it stored: `duplicate`, so
   * resending after a lost answer is safe). Rejects RELAY_REFUSED with the relay's code and check ID, or
   * RELAY_UNAVAILABLE when the socket closes first. Messages sent on one socket are stored in sending order.
   */
  send(groupId: Uint8Array, message: Uint8Array, envelope: Uint8Array): Promise<SendResult> {
    if (this.closedCode !== undefined)
      return Promise.reject(
        new ClientError('RELAY_UNAVAILABLE', `mailbox socket closed (${this.closedCode})`),
      );
    const id = this.nextId;
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    const frame = encodeSendFrame(id, groupId, message, envelope);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(frame);
    });
  }

  /** Routes an answer (`sent` or an `error` naming a request) to its sender. */
  private answer(frame: Record<string, unknown>): void {
    const id = frame.id;
    if (typeof id !== 'number') return;
    const w = this.waiting.get(id);
    if (w === undefined) return;
    this.waiting.delete(id);
    if (frame.type === 'sent' && (frame.result === 'stored' || frame.result === 'duplicate'))
      w.resolve({
        result: frame.result,
        recipients: typeof frame.recipients === 'number' ? frame.recipients : 0,
      });
    else
      w.reject(
        new ClientError('RELAY_REFUSED', `the relay refused the message (${String(frame.code)})`, {
          ...(typeof frame.code === 'string' ? { relayCode: frame.code } : {}),
          ...(typeof frame.check === 'string' ? { check: frame.check } : {}),
        }),
      );
  }

  private closedWith(code: number): void {
    this.closedCode = code;
    for (const w of this.waiting.values())
      w.reject(new ClientError('RELAY_UNAVAILABLE', `mailbox socket closed (${code})`));
    this.waiting.clear();
  }

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
        let frame: { type?: unknown; items?: unknown; id?: unknown };
        try {
          frame = JSON.parse(String(ev.data));
        } catch {
          return;
        }
        if (frame.type === 'ready' && !ready) {
          ready = true;
          resolve(socket);
        } else if ((frame.type === 'sent' || frame.type === 'error') && frame.id !== undefined) {
          socket.answer(frame as Record<string, unknown>);
        } else if (frame.type === 'items' && Array.isArray(frame.items)) {
          let max = 0;
          for (const i of frame.items as { seq?: unknown }[])
            if (typeof i?.seq === 'number' && i.seq > max) max = i.seq;
          options.onItems(max);
        }
      };
      ws.onerror = () => {};
      ws.onclose = (ev) => {
        socket.closedWith(ev.code);
        if (!ready)
          reject(new ClientError('RELAY_UNAVAILABLE', `mailbox socket closed before ready (${ev.code})`));
        options.onClose?.(ev.code);
      };
    });
  }

  /** Whether the socket is still open (a closed one refuses `send` with RELAY_UNAVAILABLE). */
  get isOpen(): boolean {
    return this.closedCode === undefined;
  }

  close(): void {
    this.ws.close();
  }
}
