// Warrant scope (docs/spec/workflow.md §5, release rule 4): decisions at the edges of the window, subjects as
// sender or recipient, the conversation filter, and the envelope count.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  epochKey,
  fields,
  headerFieldsArb,
  outcome,
  SEND_TIME,
  seededRng,
  senderSigningKey,
} from '../../test/envelope-fixtures.js';
import { verifiedRequest } from '../../test/workflow-fixtures.js';
import { compareBytes, utf8Encode } from '../bytes.js';
import { decodeHeader } from '../envelope/header.js';
import { sealEnvelope } from '../envelope/seal.js';
import { checkEnvelopeCount, checkInScope, inScope, type Scope, scopeOf } from './scope.js';

const scope: Scope = {
  orgId: 'example.org',
  subjects: ['bob@example.org', 'zed@example.org'],
  window: { from: SEND_TIME, until: SEND_TIME + 1000 },
  conversations: [],
};

describe('inScope', () => {
  it('decides the window as [from, until): from is in, until is out', () => {
    const at = (t: number) => inScope(fields({ sendTime: t }), scope);
    expect(at(SEND_TIME - 1)).toEqual({ inScope: false, reason: 'window', check: 'SCOPE-2' });
    expect(at(SEND_TIME)).toEqual({ inScope: true });
    expect(at(SEND_TIME + 999)).toEqual({ inScope: true });
    expect(at(SEND_TIME + 1000)).toEqual({ inScope: false, reason: 'window', check: 'SCOPE-2' });
  });

  it('a subject may be the sender or any recipient; otherwise SCOPE-3', () => {
    expect(inScope(fields(), scope).inScope).toBe(true); // bob is a recipient
    expect(inScope(fields(), { ...scope, subjects: ['alice@example.org'] }).inScope).toBe(true); // the sender
    expect(inScope(fields(), { ...scope, subjects: ['dave@example.org', 'zed@example.org'] })).toEqual({
      inScope: false,
      reason: 'subject',
      check: 'SCOPE-3',
    });
  });

  it('applies the conversation filter only when the scope lists conversations (SCOPE-4)', () => {
    const listed = { ...scope, conversations: [utf8Encode('group-41'), utf8Encode('group-42')] };
    expect(inScope(fields(), listed).inScope).toBe(true);
    expect(inScope(fields(), { ...scope, conversations: [utf8Encode('group-41')] })).toEqual({
      inScope: false,
      reason: 'conversation',
      check: 'SCOPE-4',
    });
  });

  it('refuses another organisation first (SCOPE-1) and throws SCOPE_OUTSIDE from checkInScope', async () => {
    expect(inScope(fields({ orgId: 'other.org' }), scope)).toEqual({
      inScope: false,
      reason: 'org',
      check: 'SCOPE-1',
    });
    expect(await outcome(() => checkInScope(fields({ sendTime: 0 }), scope))).toBe('SCOPE_OUTSIDE SCOPE-2');
    checkInScope(fields(), scope);
  });

  it('agrees with a naive definition on random headers and scopes', () => {
    fc.assert(
      fc.property(
        headerFieldsArb,
        fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'alice@example.org'), { minLength: 1 }),
        fc.integer({ min: 0, max: 2 ** 50 }),
        fc.integer({ min: 1, max: 2 ** 50 }),
        fc.boolean(),
        (h, subjects, from, len, filter) => {
          const s: Scope = {
            orgId: h.orgId,
            subjects: [...subjects].sort(),
            window: { from, until: from + len },
            conversations: filter ? [h.conversationId, Uint8Array.of(0)].sort(compareBytes) : [],
          };
          const naive =
            h.sendTime >= from &&
            h.sendTime < from + len &&
            subjects.some((x) => x === h.senderUserId || h.recipients.includes(x));
          expect(inScope(h, s).inScope).toBe(naive);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('decides from the label-bound header of a real envelope with the request’s scope', async () => {
    const req = verifiedRequest();
    const s = await sealEnvelope(fields(), new Uint8Array(10), epochKey, senderSigningKey, {
      rng: seededRng('scope'),
    });
    expect(inScope(decodeHeader(s.headerBytes), scopeOf(req))).toEqual({ inScope: true });
    const late = await sealEnvelope(
      fields({ sendTime: req.request.window.until }),
      new Uint8Array(10),
      epochKey,
      senderSigningKey,
    );
    expect(inScope(late.header, scopeOf(req)).inScope).toBe(false);
  });
});

describe('envelope count (SCOPE-5)', () => {
  it('allows up to maxEnvelopes and refuses one more', async () => {
    const req = verifiedRequest({ maxEnvelopes: 3 });
    checkEnvelopeCount(req, 3);
    expect(await outcome(() => checkEnvelopeCount(req, 4))).toBe('REQUEST_LIMIT SCOPE-5');
    expect(await outcome(() => checkEnvelopeCount(req, -1))).toBe('REQUEST_LIMIT SCOPE-5');
  });
});
