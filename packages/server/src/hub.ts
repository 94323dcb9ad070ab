/**
 * In-process notification of new mailbox items and of device removals, from the request that stored them to
 * the WebSocket connections of the devices concerned (docs/spec/relay.md §6.6).
 *
 * A notification carries no data: the connection reads its mailbox from storage after the item is committed,
 * so a lost or duplicated notification can delay a push but never lose or duplicate an item. With several relay
 * nodes a cross-node transport (NATS) would publish the same device ids; this in-process hub is the one-node case.
 */
export interface MailboxListener {
  /** New items may be waiting. */
  wake(): void;
  /** The device was removed: close the connection. */
  removed(): void;
}

export class MailboxHub {
  private readonly listeners = new Map<string, Set<MailboxListener>>();

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

  notify(deviceIds: readonly string[]): void {
    for (const d of deviceIds) for (const l of this.listeners.get(d) ?? []) l.wake();
  }

  removed(deviceId: string): void {
    for (const l of [...(this.listeners.get(deviceId) ?? [])]) l.removed();
  }

  /** Number of live subscriptions of a device (for tests). */
  connections(deviceId: string): number {
    return this.listeners.get(deviceId)?.size ?? 0;
  }
}
