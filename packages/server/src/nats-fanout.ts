/**
 * Cross-node fan-out of mailbox notifications over NATS JetStream (docs/spec/relay.md §6.6): with several relay
 * nodes on one database, the node that stored an item publishes the recipients' device ids, and every other
 * node wakes its sockets of those devices, which then read their mailbox from storage. Device removals travel
 * the same way and close the removed device's sockets everywhere.
 *
 * Storage is the truth: a notification carries no data, so a failed or lost one only delays a push until the
 * socket's next wake-up or reconnect. The transport is built so that it rarely comes to that:
 * - a publish is acknowledged by the stream; an unacknowledged one is retried (bounded), so an outage between
 *   this node and NATS delays the other nodes' pushes until NATS is back, it does not drop them;
 * - on every reconnect a node re-creates its consumer and wakes all its local sockets (one storage read each),
 *   which covers whatever it missed while disconnected, even if the stream itself was lost.
 */
import { isOvertError, toBase64Url, utf8Decode, utf8Encode } from '@overt/core';
import {
  type ConsumerMessages,
  connect,
  DeliverPolicy,
  DiscardPolicy,
  Events,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  nanos,
  RetentionPolicy,
  StorageType,
} from 'nats';
import { isDeviceId } from './auth.js';
import { RelayError } from './errors.js';
import type { HubFanout, LocalDelivery } from './hub.js';

/** `createRelay({nats})`: where the relay nodes meet. Every node of one relay uses the same stream and subject. */
export interface NatsFanoutOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | readonly string[];
  /** JetStream stream of the notifications (default `OVERT_RELAY_FANOUT`); created if missing. */
  readonly stream?: string;
  /** Subject the nodes publish on (default `overt.relay.fanout`); the stream must capture it. */
  readonly subject?: string;
  /** How long the stream keeps a notification (default 60 000 ms): long enough to ride out a reconnect. */
  readonly maxAgeMs?: number;
  /** Wait between reconnect attempts (default 1 000 ms). Reconnection never gives up. */
  readonly reconnectWaitMs?: number;
}

export const DEFAULT_FANOUT_STREAM = 'OVERT_RELAY_FANOUT';
export const DEFAULT_FANOUT_SUBJECT = 'overt.relay.fanout';
/** Device ids per published message (a large group's fan-out is split), so a message stays far below 1 MiB. */
export const MAX_FANOUT_IDS = 1000;
/** Largest message accepted (FAN-1): 1000 ids of ≤ 64 characters and the framing fit easily. */
export const MAX_FANOUT_MESSAGE_BYTES = 128 * 1024;
/** Device ids kept for a retried publish; beyond this, notifications are counted as dropped (storage keeps the items). */
export const MAX_PENDING_IDS = 100_000;
const RETRY_MS = 1000;

/** One notification on the wire (relay.md §6.6): JSON, `{"v":1,"node",("wake":[ids] | "removed":id)}`. */
export type FanoutMessage =
  | { readonly node: string; readonly kind: 'wake'; readonly devices: readonly string[] }
  | { readonly node: string; readonly kind: 'removed'; readonly device: string };

const NODE_ID = /^[A-Za-z0-9_-]{22}$/;

export function encodeFanoutMessage(m: FanoutMessage): Uint8Array {
  return utf8Encode(
    JSON.stringify(
      m.kind === 'wake' ? { v: 1, node: m.node, wake: m.devices } : { v: 1, node: m.node, removed: m.device },
    ),
  );
}

function malformed(detail: string, cause?: unknown): never {
  throw new RelayError('RELAY_FANOUT_MALFORMED', `fan-out message refused: ${detail}`, {
    check: 'FAN-1',
    ...(cause !== undefined ? { cause } : {}),
  });
}

/**
 * Parses a fan-out message strictly (FAN-1): at most {@link MAX_FANOUT_MESSAGE_BYTES}, strict UTF-8 JSON, an
 * object with exactly `v` = 1, `node` (22 base64url characters) and one of `wake` (1..1000 device ids) or
 * `removed` (a device id). Anything else is RELAY_FANOUT_MALFORMED.
 */
export function decodeFanoutMessage(bytes: Uint8Array): FanoutMessage {
  if (bytes.length > MAX_FANOUT_MESSAGE_BYTES) malformed('too large');
  let v: unknown;
  try {
    v = JSON.parse(utf8Decode(bytes));
  } catch (cause) {
    if (cause instanceof SyntaxError || isOvertError(cause)) malformed('not UTF-8 JSON', cause);
    throw cause;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) malformed('not an object');
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (o.v !== 1) malformed('unknown version');
  if (typeof o.node !== 'string' || !NODE_ID.test(o.node)) malformed('bad node id');
  if (keys === 'node,v,wake') {
    const w = o.wake;
    if (!Array.isArray(w) || w.length === 0 || w.length > MAX_FANOUT_IDS || !w.every(isDeviceId))
      malformed('bad device ids');
    return { node: o.node, kind: 'wake', devices: w as string[] };
  }
  if (keys === 'node,removed,v') {
    if (!isDeviceId(o.removed)) malformed('bad device id');
    return { node: o.node, kind: 'removed', device: o.removed as string };
  }
  return malformed('unexpected fields');
}

const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const SUBJECT = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Uses the stream if it exists (as configured by an operator, or by another node), else creates it. */
async function ensureStream(jsm: JetStreamManager, name: string, subject: string, maxAgeMs: number) {
  try {
    await jsm.streams.info(name);
    return;
  } catch {
    // Missing (or unreadable): try to create it.
  }
  try {
    await jsm.streams.add({
      name,
      subjects: [subject],
      // Notifications are worthless after a reconnect window: memory, short max-age, oldest dropped first.
      storage: StorageType.Memory,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(maxAgeMs),
      num_replicas: 1,
    });
  } catch (e) {
    // Another node may have created it in between.
    await jsm.streams.info(name).catch(() => {
      throw e;
    });
  }
}

/** The NATS JetStream {@link HubFanout}. Create with {@link NatsFanout.connect}. */
export class NatsFanout implements HubFanout {
  /** This node's id: its own notifications come back through the stream and are skipped. */
  readonly nodeId = toBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(16)));
  /** Notifications delivered from other nodes / refused by FAN-1 / given up (beyond {@link MAX_PENDING_IDS}). */
  readonly stats = { received: 0, malformed: 0, dropped: 0, retried: 0 };

  private local: LocalDelivery | undefined;
  private messages: ConsumerMessages | undefined;
  private consuming: Promise<void> = Promise.resolve();
  private statusLoop: Promise<void> = Promise.resolve();
  private reconnecting: Promise<void> = Promise.resolve();
  private readonly inflight = new Set<Promise<void>>();
  private readonly pendingWake = new Set<string>();
  private readonly pendingRemoved = new Set<string>();
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Ends the status loop: the connection's status iterator does not end when the connection closes. */
  private stopStatus: () => void = () => {};

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly subject: string,
    private readonly maxAgeMs: number,
  ) {}

  /**
   * Connects and makes sure the stream exists. RELAY_CONFIG when the options are invalid or NATS cannot be
   * reached at start (a relay configured for several nodes should not start silently alone); afterwards a lost
   * connection is retried forever.
   */
  static async connect(o: NatsFanoutOptions): Promise<NatsFanout> {
    const stream = o.stream ?? DEFAULT_FANOUT_STREAM;
    const subject = o.subject ?? DEFAULT_FANOUT_SUBJECT;
    const maxAgeMs = o.maxAgeMs ?? 60_000;
    if (
      !STREAM_NAME.test(stream) ||
      !SUBJECT.test(subject) ||
      !Number.isSafeInteger(maxAgeMs) ||
      maxAgeMs < 1000
    )
      throw new RelayError('RELAY_CONFIG', 'invalid NATS stream, subject or max-age');
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: typeof o.servers === 'string' ? o.servers : [...o.servers],
        name: 'overt-relay',
        maxReconnectAttempts: -1,
        reconnectTimeWait: o.reconnectWaitMs ?? 1000,
      });
    } catch (cause) {
      throw new RelayError('RELAY_CONFIG', 'the NATS server could not be reached', { cause });
    }
    try {
      const jsm = await nc.jetstreamManager();
      await ensureStream(jsm, stream, subject, maxAgeMs);
      // A short ack timeout: an unacknowledged publish is retried (a duplicate wake-up is harmless).
      return new NatsFanout(nc, nc.jetstream({ timeout: 2000 }), jsm, stream, subject, maxAgeMs);
    } catch (cause) {
      await nc.close();
      throw new RelayError('RELAY_CONFIG', 'the NATS JetStream stream could not be set up', { cause });
    }
  }

  async start(local: LocalDelivery): Promise<void> {
    this.local = local;
    await this.startConsumer();
    const status = this.nc.status();
    this.stopStatus = () => (status as { stop?: () => void }).stop?.();
    this.statusLoop = (async () => {
      for await (const s of status)
        if (s.type === Events.Reconnect) this.reconnecting = this.reconnecting.then(() => this.onReconnect());
    })().catch(() => {});
  }

  publishWake(deviceIds: readonly string[]): void {
    for (let i = 0; i < deviceIds.length; i += MAX_FANOUT_IDS)
      this.publish({ node: this.nodeId, kind: 'wake', devices: deviceIds.slice(i, i + MAX_FANOUT_IDS) });
  }

  publishRemoved(deviceId: string): void {
    this.publish({ node: this.nodeId, kind: 'removed', device: deviceId });
  }

  /** Whether the NATS connection is closed (after {@link close}: no handle is left). */
  get isClosed(): boolean {
    return this.nc.isClosed();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    await this.stopConsumer();
    // Publishes under way get a moment to be acknowledged; closing the connection ends the rest at once.
    let bound: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.inflight]),
      new Promise<void>((resolve) => {
        bound = setTimeout(resolve, 2000);
      }),
    ]);
    clearTimeout(bound);
    await this.nc.close();
    this.stopStatus();
    await this.statusLoop;
    await this.reconnecting;
  }

  /** A new ordered consumer from the stream's next message on: the one before it (if any) is stopped. */
  private async startConsumer(): Promise<void> {
    await this.stopConsumer();
    const consumer = await this.js.consumers.get(this.stream, {
      filterSubjects: this.subject,
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    this.messages = messages;
    this.consuming = (async () => {
      for await (const m of messages) this.deliver(m.data);
    })().catch(() => {});
  }

  private async stopConsumer(): Promise<void> {
    const m = this.messages;
    this.messages = undefined;
    if (m !== undefined) await m.close();
    await this.consuming;
  }

  private deliver(data: Uint8Array): void {
    let m: FanoutMessage;
    try {
      m = decodeFanoutMessage(data);
    } catch {
      // FAN-1: dropped. Counted, not logged per message (a flood must not flood the log).
      this.stats.malformed++;
      return;
    }
    if (m.node === this.nodeId || this.local === undefined) return;
    this.stats.received++;
    if (m.kind === 'wake') this.local.wake(m.devices);
    else this.local.removed(m.device);
  }

  /**
   * After a reconnect: the stream may have been lost with the server (it lives in memory), so it is ensured and
   * the consumer re-created from "new"; then every local socket is woken, which covers anything published while
   * this node was away; then the notifications this node could not publish are retried.
   */
  private async onReconnect(): Promise<void> {
    if (this.closed) return;
    try {
      await ensureStream(this.jsm, this.stream, this.subject, this.maxAgeMs);
      if (!this.closed) await this.startConsumer();
    } catch {
      console.warn(
        'relay: the NATS fan-out could not resubscribe after a reconnect; retrying on the next one',
      );
    }
    this.local?.wakeAll();
    this.retryPending();
  }

  private publish(m: FanoutMessage): void {
    if (this.closed) return;
    const p: Promise<void> = this.js
      .publish(this.subject, encodeFanoutMessage(m), { expect: { streamName: this.stream } })
      .then(
        () => {},
        () => this.keepForRetry(m),
      )
      .finally(() => this.inflight.delete(p));
    this.inflight.add(p);
  }

  /** Keeps a notification that was not acknowledged, merged by device id, for the next retry. */
  private keepForRetry(m: FanoutMessage): void {
    if (this.closed) return;
    const ids = m.kind === 'wake' ? m.devices : [m.device];
    const set = m.kind === 'wake' ? this.pendingWake : this.pendingRemoved;
    for (const id of ids) {
      if (set.has(id)) continue;
      if (this.pendingWake.size + this.pendingRemoved.size >= MAX_PENDING_IDS) this.stats.dropped++;
      else set.add(id);
    }
    if (this.retryTimer === undefined) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.retryPending();
      }, RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private retryPending(): void {
    if (this.closed) return;
    const wake = [...this.pendingWake];
    const removed = [...this.pendingRemoved];
    this.pendingWake.clear();
    this.pendingRemoved.clear();
    this.stats.retried += wake.length + removed.length;
    if (wake.length > 0) this.publishWake(wake);
    for (const d of removed) this.publishRemoved(d);
  }
}
