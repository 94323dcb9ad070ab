/**
 * Domain-separated hashing. Every hash in Overt's protocols goes through {@link taggedHash} with a tag that names
 * the protocol, the purpose and the version, and an unambiguous framing of its inputs, so that no two different
 * calls (different tags, or different splits of the same bytes into parts) ever hash the same string.
 *
 * Framing (docs/SPEC.md §"Hashing"):  H(tag, p1, …, pn) = SHA-256( u16(len(tag)) ‖ tag ‖ u32(len(p1)) ‖ p1 ‖ … ).
 * The 64-byte variant uses SHA-512 with the same framing.
 */
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { utf8Encode } from './bytes.js';
import { InternalError } from './errors.js';

function frame(tag: string, parts: readonly Uint8Array[]): Uint8Array {
  const t = utf8Encode(tag);
  // The framing's u16 length would silently wrap for a longer tag, making two tags frame alike.
  if (t.length > 0xffff) throw new InternalError('hash tag longer than 65535 bytes');
  let n = 2 + t.length;
  for (const p of parts) n += 4 + p.length;
  const out = new Uint8Array(n);
  const view = new DataView(out.buffer);
  view.setUint16(0, t.length);
  out.set(t, 2);
  let o = 2 + t.length;
  for (const p of parts) {
    view.setUint32(o, p.length);
    out.set(p, o + 4);
    o += 4 + p.length;
  }
  return out;
}

/** SHA-256 over the tagged framing of `parts`: 32 bytes. */
export function taggedHash(tag: string, ...parts: readonly Uint8Array[]): Uint8Array {
  return sha256(frame(tag, parts));
}

/** SHA-512 over the tagged framing of `parts`: 64 bytes (used for hashing to scalars). */
export function taggedHash64(tag: string, ...parts: readonly Uint8Array[]): Uint8Array {
  return sha512(frame(tag, parts));
}

export { sha256, sha512 };
