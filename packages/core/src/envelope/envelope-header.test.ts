// The envelope header codec and label (docs/spec/envelope.md §2): canonical round trips, every bound and
// format rule, and the label's dependence on every field.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fields, flip, headerFieldOffsets, headerFieldsArb, outcome } from '../../test/envelope-fixtures.js';
import { toHex, utf8Encode } from '../bytes.js';
import { CONVERSATION_ID_MAX, DEVICE_ID_MAX, ORG_ID_MAX, USER_ID_MAX } from './fields.js';
import {
  CONTENT_TYPE_MAX,
  decodeHeader,
  encodeHeader,
  encodeHeaderContext,
  envelopeLabel,
  HEADER_VERSION,
  type Header,
  type HeaderFields,
  headerContextBytes,
  MAX_CHUNK_SIZE,
  MAX_HEADER_BYTES,
  MAX_PAYLOAD_BYTES,
  MAX_RECIPIENTS,
  MIN_CHUNK_SIZE,
} from './header.js';

function header(f: HeaderFields = fields(), extra: Partial<Header> = {}): Header {
  return {
    ...f,
    recipients: [...f.recipients].sort(),
    version: HEADER_VERSION,
    payloadLength: 1000,
    chunkSize: 256,
    keyCommitment: new Uint8Array(32).fill(1),
    frankingCommitment: new Uint8Array(32).fill(2),
    ciphertextDigest: new Uint8Array(32).fill(3),
    ...extra,
  };
}

const headerArb: fc.Arbitrary<Header> = fc
  .record({
    f: headerFieldsArb,
    chunkSize: fc.integer({ min: MIN_CHUNK_SIZE, max: MAX_CHUNK_SIZE }),
    // Up to 16 GiB: with 16-byte chunks that is 2^30 chunks, under the 2^32 − 1 limit.
    payloadLength: fc.integer({ min: 0, max: 2 ** 34 }),
    keyCommitment: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    frankingCommitment: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    ciphertextDigest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  })
  .map(({ f, ...rest }) => ({ ...f, version: HEADER_VERSION, ...rest }));

describe('header codec', () => {
  it('round-trips every valid header, and the encoding is canonical', () => {
    fc.assert(
      fc.property(headerArb, (h) => {
        const bytes = encodeHeader(h);
        const back = decodeHeader(bytes);
        expect(back).toEqual(h);
        expect(toHex(encodeHeader(back))).toBe(toHex(bytes));
        // The context is a prefix of the header: its last two fields follow it.
        expect(toHex(headerContextBytes(bytes))).toBe(toHex(encodeHeaderContext(h)));
        expect(Object.keys(headerFieldOffsets(bytes))).toContain('ciphertextDigest');
      }),
      { numRuns: 200 },
    );
  });

  it('reaches exactly MAX_HEADER_BYTES with every variable field at its bound', () => {
    const pad = (p: string, n: number) => p + 'x'.repeat(n - p.length);
    const recipients = Array.from({ length: MAX_RECIPIENTS }, (_, i) =>
      pad(`u${String(i).padStart(5, '0')}`, USER_ID_MAX),
    );
    const h = header(
      fields({
        orgId: 'o'.repeat(ORG_ID_MAX),
        conversationId: new Uint8Array(CONVERSATION_ID_MAX),
        senderDeviceId: new Uint8Array(DEVICE_ID_MAX),
        senderUserId: recipients[0]!,
        recipients,
        contentType: 't'.repeat(CONTENT_TYPE_MAX),
      }),
    );
    expect(encodeHeader(h).length).toBe(MAX_HEADER_BYTES);
  });

  it.each<[string, Partial<Header>, string]>([
    ['version 1 (unsigned envelopes)', { version: 1 }, 'ENVELOPE_VERSION ENV-2'],
    ['version 3', { version: 3 }, 'ENVELOPE_VERSION ENV-2'],
    ['empty org id', { orgId: '' }, 'ENVELOPE_MALFORMED ENV-1'],
    ['org id with a space', { orgId: 'a b' }, 'ENVELOPE_MALFORMED ENV-1'],
    ['org id with non-ASCII', { orgId: 'exämple' }, 'ENVELOPE_MALFORMED ENV-1'],
    ['org id too long', { orgId: 'o'.repeat(ORG_ID_MAX + 1) }, 'ENVELOPE_MALFORMED ENV-1'],
    ['epoch above u32', { epoch: 2 ** 32 }, 'ENVELOPE_MALFORMED ENV-1'],
    ['empty conversation id', { conversationId: new Uint8Array(0) }, 'ENVELOPE_MALFORMED ENV-1'],
    ['long device id', { senderDeviceId: new Uint8Array(DEVICE_ID_MAX + 1) }, 'ENVELOPE_MALFORMED ENV-1'],
    ['no recipients', { recipients: [] }, 'ENVELOPE_MALFORMED ENV-1'],
    [
      'unsorted recipients',
      { recipients: ['bob@example.org', 'alice@example.org'] },
      'ENVELOPE_MALFORMED ENV-1',
    ],
    [
      'duplicate recipients',
      { recipients: ['alice@example.org', 'alice@example.org'] },
      'ENVELOPE_MALFORMED ENV-1',
    ],
    ['sender not a recipient', { recipients: ['bob@example.org'] }, 'ENVELOPE_MALFORMED ENV-1'],
    ['message id of 15 bytes', { messageId: new Uint8Array(15) }, 'ENVELOPE_MALFORMED ENV-1'],
    ['fractional send time', { sendTime: 1.5 }, 'ENVELOPE_MALFORMED ENV-1'],
    ['negative send time', { sendTime: -1 }, 'ENVELOPE_MALFORMED ENV-1'],
    ['empty content type', { contentType: '' }, 'ENVELOPE_MALFORMED ENV-1'],
    ['content type with a newline', { contentType: 'text/plain\n' }, 'ENVELOPE_MALFORMED ENV-1'],
    ['chunk size below minimum', { chunkSize: MIN_CHUNK_SIZE - 1 }, 'ENVELOPE_MALFORMED ENV-1'],
    ['chunk size above maximum', { chunkSize: MAX_CHUNK_SIZE + 1 }, 'ENVELOPE_MALFORMED ENV-1'],
    ['payload above 1 TiB', { payloadLength: MAX_PAYLOAD_BYTES + 1 }, 'ENVELOPE_TOO_LARGE ENV-3'],
    ['more than 2^32 - 1 chunks', { payloadLength: 2 ** 37, chunkSize: 16 }, 'ENVELOPE_TOO_LARGE ENV-3'],
    ['short key commitment', { keyCommitment: new Uint8Array(31) }, 'ENVELOPE_MALFORMED ENV-1'],
    ['short digest', { ciphertextDigest: new Uint8Array(0) }, 'ENVELOPE_MALFORMED ENV-1'],
  ])('refuses to encode: %s', async (_, change, expected) => {
    expect(await outcome(() => encodeHeader(header(fields(), change)))).toBe(expected);
  });

  it('refuses non-canonical and malformed encodings', async () => {
    const good = encodeHeader(header());
    const at = headerFieldOffsets(good);
    expect(await outcome(() => decodeHeader(good.subarray(0, good.length - 1)))).toBe(
      'ENVELOPE_MALFORMED ENV-1',
    );
    expect(await outcome(() => decodeHeader(Uint8Array.of(...good, 0)))).toBe('ENVELOPE_MALFORMED ENV-1');
    expect(await outcome(() => decodeHeader(flip(good, 0, 1)))).toBe('ENVELOPE_VERSION ENV-2');
    // A space inside an identifier, a recipient count above the maximum, a u64 above 2^53 − 1.
    const space = good.slice();
    space[at.orgId!.at]! = 0x20;
    expect(await outcome(() => decodeHeader(space))).toBe('ENVELOPE_MALFORMED ENV-1');
    const many = good.slice();
    many[at.recipientCount!.at] = 0xff;
    expect(await outcome(() => decodeHeader(many))).toBe('ENVELOPE_MALFORMED ENV-1');
    const huge = good.slice();
    huge[at.sendTime!.at] = 0xff;
    expect(await outcome(() => decodeHeader(huge))).toBe('ENVELOPE_MALFORMED ENV-1');
    // Swapping two recipients keeps every byte valid but breaks the canonical order.
    const r0 = at.recipient0!;
    const r1 = at.recipient1!;
    const swapped = header(
      fields({ recipients: ['bob@example.org', 'alice@example.org', 'carol@example.org'] }),
    );
    const bytes = encodeHeader({
      ...swapped,
      recipients: ['alice@example.org', 'bob@example.org', 'carol@example.org'],
    });
    const reordered = bytes.slice();
    const a = bytes.slice(r0.at - 1, r0.at + r0.length);
    const b = bytes.slice(r1.at - 1, r1.at + r1.length);
    reordered.set(b, r0.at - 1);
    reordered.set(a, r0.at - 1 + b.length);
    expect(await outcome(() => decodeHeader(reordered))).toBe('ENVELOPE_MALFORMED ENV-1');
  });
});

describe('label', () => {
  it('is taggedHash of the header and changes with any change of any byte', () => {
    const bytes = encodeHeader(header());
    const label = toHex(envelopeLabel(bytes));
    expect(label).toHaveLength(64);
    for (let i = 0; i < bytes.length; i++) {
      expect(toHex(envelopeLabel(flip(bytes, i)))).not.toBe(label);
    }
  });

  it('differs between headers that differ in any field', () => {
    fc.assert(
      fc.property(headerArb, headerArb, (a, b) => {
        const ea = encodeHeader(a);
        const eb = encodeHeader(b);
        fc.pre(toHex(ea) !== toHex(eb));
        expect(toHex(envelopeLabel(ea))).not.toBe(toHex(envelopeLabel(eb)));
      }),
      { numRuns: 50 },
    );
  });

  it('domain-separates the label from the header-context hash', () => {
    const bytes = encodeHeader(header());
    expect(toHex(envelopeLabel(bytes))).not.toBe(toHex(utf8Encode('')));
  });
});
