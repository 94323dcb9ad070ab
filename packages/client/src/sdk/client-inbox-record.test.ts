// docs/spec/client.md §4.3: the inbox record round trips (property), and random or mutated bytes give only
// SDK_STORE_MALFORMED (CLI-7).
import { randomBytes, utf8Encode, Writer } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientError } from '../errors.js';
import { decodePendingOpen, encodePendingOpen, type PendingOpen } from './pending.js';

const id = fc.string({
  minLength: 1,
  maxLength: 40,
  unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
});
const record = fc.record({
  transport: fc.record({
    messageId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    contentKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    seed: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  }),
  senderUserId: id,
  senderDeviceId: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  senderKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  members: fc.array(id, { maxLength: 20 }),
});

describe('inbox record', () => {
  it('round trips (property)', () => {
    fc.assert(
      fc.property(record, (p: PendingOpen) => {
        const bytes = encodePendingOpen(p);
        expect(decodePendingOpen(bytes)).toEqual(p);
        expect(encodePendingOpen(decodePendingOpen(bytes))).toEqual(bytes);
      }),
    );
  });

  it('a version 1 record (written before envelopes were signed) decodes without a sender key; none is written', () => {
    const v1 = new Writer(200)
      .u8(1)
      .bytes(new Uint8Array(16).fill(1))
      .bytes(new Uint8Array(32).fill(2))
      .bytes(new Uint8Array(32).fill(3))
      .vec8(utf8Encode('alice'))
      .vec8(utf8Encode('alice-phone'))
      .u16(1)
      .vec8(utf8Encode('bob'))
      .finish();
    const p = decodePendingOpen(v1);
    expect(p).toMatchObject({ senderUserId: 'alice', senderKey: undefined, members: ['bob'] });
    expect(() => encodePendingOpen(p)).toThrow(/SDK_USAGE/);
  });

  it('random, truncated, extended and mutated bytes give SDK_STORE_MALFORMED only', () => {
    fc.assert(
      fc.property(
        record,
        fc.oneof(
          fc.constant('random' as const),
          fc.constant('truncate' as const),
          fc.constant('extend' as const),
          fc.constant('flip' as const),
        ),
        fc.nat(),
        (p, how, at) => {
          const good = encodePendingOpen(p);
          let bytes: Uint8Array;
          if (how === 'random') bytes = randomBytes(at % 200);
          else if (how === 'truncate') bytes = good.subarray(0, at % good.length);
          else if (how === 'extend') bytes = new Uint8Array([...good, at & 0xff]);
          else {
            bytes = good.slice();
            bytes[at % bytes.length]! ^= 1 << (at % 8);
          }
          try {
            decodePendingOpen(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(ClientError);
            expect((e as ClientError).code).toBe('SDK_STORE_MALFORMED');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
