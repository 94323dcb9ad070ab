/**
 * The relay's port to the transparency log (docs/spec/relay.md §4): every device enrolment, device removal and
 * epoch-key publication is appended as one entry, and the relay records the index the log assigned.
 *
 * The production implementation is the log service's {@link Sequencer} (@overt/log/service), whose `append`
 * resolves only once the entry is durable and covered by a signed checkpoint; it satisfies this interface as
 * it is. The relay never invents an index: a directory change whose append fails is not completed (§4.2).
 */
export interface LogPort {
  /** Appends one encoded entry (log entry.ts framing); resolves with its index once durable. */
  append(entry: Uint8Array): Promise<{ readonly index: number }>;
}
