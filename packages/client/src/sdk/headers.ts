/**
 * The envelope headers this device holds (docs/spec/after-release.md §4, client.md §4.9): the canonical header of
 * every message it sent or received (also through history, §4.6), kept so that a notice can say exactly which of
 * the user's messages an unsealed request opened — the execution names envelopes by label (envelope.md §2.3, the
 * tagged hash of these very bytes), and only the holder of the header can tell which label is which message — and
 * how many were in the request's scope. Metadata only (no key, no payload); it lives in the sealed store like
 * every record (REST-1).
 *
 *     hdr/<label hex>    the header bytes (envelope.md §2.1), keyed by the label they hash to
 */
import { decodeHeader, envelopeLabel, type Header, isOvertError, toHex } from '@overt/core';
import { ClientError } from '../errors.js';
import type { KeyValueStore } from '../store/store.js';

export const HEADER_PREFIX = 'hdr/';
const headerKey = (label: Uint8Array): string => `${HEADER_PREFIX}${toHex(label)}`;

/** Keeps the header of a message sent or received (idempotent: the same bytes under the same label). */
export async function keepHeader(store: KeyValueStore, headerBytes: Uint8Array): Promise<void> {
  await store.put(headerKey(envelopeLabel(headerBytes)), headerBytes);
}

/** A held header with its label. */
export interface HeldHeader {
  readonly label: Uint8Array;
  readonly header: Header;
}

/**
 * Every header this device holds. SDK_STORE_MALFORMED (CLI-7) for a stored value that does not decode or does not
 * hash to the label it is stored under.
 */
export async function heldHeaders(store: KeyValueStore): Promise<HeldHeader[]> {
  const out: HeldHeader[] = [];
  for (const key of (await store.list(HEADER_PREFIX)).sort()) {
    const bytes = await store.get(key);
    if (bytes === undefined) continue;
    try {
      const label = envelopeLabel(bytes);
      if (key !== headerKey(label)) throw new Error('label');
      out.push({ label, header: decodeHeader(bytes) });
    } catch (cause) {
      if (cause instanceof Error && !isOvertError(cause) && cause.message !== 'label') throw cause;
      throw new ClientError('SDK_STORE_MALFORMED', 'stored header does not decode', {
        check: 'CLI-7',
        cause,
      });
    }
  }
  return out;
}
