/**
 * Notification of new mailbox items and of device removals, from the request that stored them to the WebSocket
 * connections of the devices concerned (docs/spec/relay.md §6.6) — on this node directly, and on the other relay
 * nodes through a {@link HubFanout} (NATS JetStream, nats-fanout.ts) when one is configured.
 *
 * A notification carries no data: the connection reads its mailbox from storage after the item is committed,
 * so a lost or duplicated notification can delay a push but never lose or duplicate an item. That is why the
 * cross-node part may be best-effort: storage stays the truth.
 */
export interface MailboxListener {
  /** New items may be waiting. */
  wake(): void;
  /** The device was removed: close the connection. */
  removed(): void;
}

/** Where a fan-out delivers what other nodes published: this node's sockets. */
export interface LocalDelivery {
  /** Wakes the local sockets of these devices. */
  wake(deviceIds: readonly string[]): void;
  /** Closes the local sockets of a removed device. */
  removed(deviceId: string): void;
  /**
   * Wakes every local socket: after the fan-out lost its connection, notifications of the other nodes may have
   * been missed, and one storage read per socket catches up on all of them.
   */
  wakeAll(): void;
}

/**
 * The cross-node half of the hub (relay.md §6.6): publishes this node's notifications to the other nodes and
 * delivers theirs locally. Publishing never blocks or fails the request that stored the items.
 */
export interface HubFanout {
  /** Starts delivering the other nodes' notifications to `local`. */
  start(local: LocalDelivery): Promise<void>;
  /** Items were committed for these devices. */
  publishWake(deviceIds: readonly string[]): void;
  /** The device was removed. */
  publishRemoved(deviceId: string): void;
  /** Stops delivering and publishing and releases every handle (connections, timers). */
  close(): Promise<void>;
}

export interface MailboxHubOptions {
  /**
   * Confirms another node's removal notice from storage before this node closes the device's sockets, so a
   * notice that was forged on the bus (or is stale) cannot disconnect an active device. Without it, notices are
   * trusted.
   */
  readonly isRemoved?: (deviceId: string) => Promise<boolean>;
}

export class MailboxHub {
  private readonly listeners = new Map<string, Set<MailboxListener>>();
  /** Removal notices of other nodes that storage did not confirm (for operators and tests). */
  readonly stats = { unconfirmedRemovals: 0 };

  /** `fanout`: the cross-node transport; without one the hub is the one-node case. */
  constructor(
    readonly fanout?: HubFanout,
    private readonly options: MailboxHubOptions = {},
  ) {}

  /** Starts the cross-node fan-out, if any: what it receives reaches this node's sockets only. */
  async start(): Promise<void> {
    await this.fanout?.start({
      wake: (ids) => this.wakeLocal(ids),
      removed: (id) => this.remoteRemoved(id),
      wakeAll: () => this.wakeAllLocal(),
    });
  }

  /** Stops the cross-node fan-out, if any. */
  async close(): Promise<void> {
    await this.fanout?.close();
  }

  subscribe(deviceId: string, listener: MailboxListener): () => void {
    let set = this.listeners.get(deviceId);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(deviceId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(deviceId);
    };
  }

  /** Items were committed for these devices: wakes their sockets here and on the other nodes. */
  notify(deviceIds: readonly string[]): void {
    if (deviceIds.length === 0) return;
    this.wakeLocal(deviceIds);
    this.fanout?.publishWake(deviceIds);
  }

  /** The device was removed: closes its sockets here and on the other nodes. */
  removed(deviceId: string): void {
    this.closeLocal(deviceId);
    this.fanout?.publishRemoved(deviceId);
  }

  private wakeLocal(deviceIds: readonly string[]): void {
    for (const d of deviceIds) for (const l of this.listeners.get(d) ?? []) l.wake();
  }

  private wakeAllLocal(): void {
    for (const set of this.listeners.values()) for (const l of set) l.wake();
  }

  /** Another node removed the device: close its sockets here once storage agrees (a failed read closes too). */
  private remoteRemoved(deviceId: string): void {
    const check = this.options.isRemoved;
    if (check === undefined) {
      this.closeLocal(deviceId);
      return;
    }
    check(deviceId).then(
      (removed) => {
        if (removed) this.closeLocal(deviceId);
        else this.stats.unconfirmedRemovals++;
      },
      // Closing costs the device one reconnect, which authenticates again: the safe side when storage fails.
      () => this.closeLocal(deviceId),
    );
  }

  private closeLocal(deviceId: string): void {
    for (const l of [...(this.listeners.get(deviceId) ?? [])]) l.removed();
  }

  /** Number of live subscriptions of a device (for tests). */
  connections(deviceId: string): number {
    return this.listeners.get(deviceId)?.size ?? 0;
  }
}
