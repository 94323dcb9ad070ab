// docs/spec/client.md §3, §4.3: a stored unread event round trips (property), and random bytes or JSON give only
// SDK_STORE_MALFORMED (CLI-7).
import { utf8Encode } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientError } from '../errors.js';
import type { ClientEvent } from './client.js';
import { decodeEvent, encodeEvent } from './events.js';

const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => new Uint8Array(b));
const message = fc.record({
  kind: fc.constant('message' as const),
  conversationId: bytes,
  messageId: bytes,
  sender: fc.record({ userId: fc.string(), deviceId: fc.string() }),
  sendTime: fc.nat(),
  contentType: fc.string(),
  payload: bytes,
  frankingKey: bytes,
  stamp: fc.option(bytes, { nil: undefined }),
  stampStatus: fc.constantFrom(
    'verified' as const,
    'unverified' as const,
    'invalid' as const,
    'absent' as const,
  ),
  reportable: fc.boolean(),
});
const rejected = fc.record({
  kind: fc.constant('rejected' as const),
  conversationId: bytes,
  item: fc.constantFrom('welcome' as const, 'commit' as const, 'message' as const, 'history' as const),
  sender: fc.string(),
  code: fc.string(),
  check: fc.option(fc.string(), { nil: undefined }),
});

describe('stored events', () => {
  it('round trip (property)', () => {
    fc.assert(
      fc.property(fc.oneof(message, rejected), (e) => {
        expect(decodeEvent(encodeEvent(e as ClientEvent))).toEqual(e);
      }),
    );
  });

  it('random bytes and random JSON give SDK_STORE_MALFORMED (CLI-7) or an event, nothing else', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          bytes,
          fc.jsonValue().map((v) => utf8Encode(JSON.stringify(v))),
        ),
        (b) => {
          try {
            decodeEvent(b);
          } catch (e) {
            expect(e).toBeInstanceOf(ClientError);
            expect((e as ClientError).code).toBe('SDK_STORE_MALFORMED');
          }
        },
      ),
    );
  });
});
