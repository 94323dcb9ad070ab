// Notices (docs/spec/after-release.md §4, NOT-1) over a real access case (test/access-case.ts: real envelopes sealed
// by enrolled devices, a request for alice's messages approved by trustees 1 and 2, the relay's execution over the
// three labels, both trustees' releases) with, appended, trustee 2's refusal of one envelope and the relay's unseal.
// Alice's notice lists exactly the two messages k = 2 trustees released; served labels that are not the execution's
// are refused; a user who is not a subject gets no notice; before the unseal nobody does.
import {
  concatBytes,
  decodeEnvelopeHead,
  signRefusal,
  signUnseal,
  toBase64Url,
  toHex,
  unsealFor,
} from '@overt/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { orgKey, trusteeKeys } from '../../../core/test/workflow-fixtures.js';
import { type AccessCaseFixture, buildAccessCase, logViewOf, relayKey } from '../../test/access-case.js';
import { ClientError } from '../errors.js';
import type { HeldHeader } from '../sdk/headers.js';
import { type AccessCaseRecord, readAccessLog } from './access-log.js';
import { buildNotices, openedLabels, readAllLabels } from './notices.js';

const anchors = { orgKey: orgKey.publicKey, relayKey: relayKey.publicKey };
const entry = (type: number, body: Uint8Array) => concatBytes(Uint8Array.of(type), body);
const UNSEALED_AT = Date.UTC(2026, 5, 1);

let f: AccessCaseFixture;
let held: HeldHeader[];
let labels: Uint8Array[];
let beforeUnseal: Uint8Array[];

beforeAll(async () => {
  f = await buildAccessCase();
  held = f.envelopes.map((e) => {
    const h = decodeEnvelopeHead(e.head);
    return { label: h.label, header: h.header };
  });
  labels = held.map((h) => h.label);
  const req = f.built.verified;
  f.log.append(
    entry(
      12,
      signRefusal(
        {
          version: 1,
          orgId: 'example.org',
          requestId: req.request.requestId,
          requestHash: req.hash,
          trusteeIndex: 2,
          reason: 'REL-5',
          label: labels[1]!,
          refusedAt: UNSEALED_AT - 1,
        },
        trusteeKeys[1]!,
      ),
    ),
  );
  beforeUnseal = logViewOf(f.log).entries;
  f.log.append(entry(10, signUnseal(unsealFor(req, f.built.opening, 0, UNSEALED_AT), relayKey)));
});

const notices = (userId: string, over: Partial<Parameters<typeof buildNotices>[0]> = {}) =>
  buildNotices({
    userId,
    log: readAccessLog(logViewOf(f.log).entries, anchors),
    held,
    labels: async () => labels,
    ...over,
  });

describe('notices (after-release.md §4, NOT-1)', () => {
  it('tells the subject who asked, why, who approved, and exactly which of their messages were opened', async () => {
    const [n, ...rest] = await notices('alice@example.org');
    expect(rest).toEqual([]);
    const q = f.built.verified.request;
    const message = (p: number) => ({
      messageId: toBase64Url(held[p]!.header.messageId),
      conversation: toBase64Url(held[p]!.header.conversationId),
      sentAt: held[p]!.header.sendTime,
    });
    expect(n).toEqual({
      requestId: toBase64Url(q.requestId),
      requester: { id: 'internal-investigations', name: 'Internal Investigations' },
      legalBasis: 'Employment contract §12; works council agreement 2024/3',
      documentHash: toHex(q.documentHash),
      justification: 'Suspected disclosure of client data to a competitor.',
      caseReference: 'II-2026-0042',
      approvedBy: [
        { index: 1, name: 'General Counsel' },
        { index: 2, name: 'Oversight Board' },
      ],
      deniedBy: [],
      window: q.window,
      conversations: 'all',
      filedAt: q.createdAt,
      sealUntil: q.sealUntil,
      unsealedAt: UNSEALED_AT,
      publisher: 'relay',
      executed: true,
      // Position 1 was refused by trustee 2: only trustee 1 released it, fewer than k = 2.
      opened: [0, 2].map(message).sort((a, b) => a.sentAt - b.sentAt),
      openedCount: 2,
      inScopeCount: 3,
      logIndex: f.log.size - 1,
    });
  });

  it('a subject none of whose held messages was opened is told so; a user who is no subject gets nothing', async () => {
    const [n] = await notices('alice@example.org', { held: [] });
    expect(n).toMatchObject({ opened: [], openedCount: 0, inScopeCount: 0, executed: true });
    expect(await notices('bob@example.org')).toEqual([]);
  });

  it('nothing before the unseal is on the log', async () => {
    expect(
      await buildNotices({
        userId: 'alice@example.org',
        log: readAccessLog(beforeUnseal, anchors),
        held,
        labels: async () => labels,
      }),
    ).toEqual([]);
  });

  it('refuses served labels that are not the execution’s (NOT-1, WF-E6): swapped, missing, out of order', async () => {
    const bad = [
      [labels[0]!, labels[1]!, new Uint8Array(32).fill(1)],
      labels.slice(0, 2),
      [labels[1]!, labels[0]!, labels[2]!],
    ];
    for (const served of bad) {
      const e = await notices('alice@example.org', { labels: async () => served }).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(ClientError);
      expect((e as ClientError).check).toBe('NOT-1');
    }
    const pages = await readAllLabels(async (from) => ({
      items: from === 0 ? [{ position: 1, label: labels[0]! }] : [],
      next: null,
    })).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect((pages as ClientError).check).toBe('NOT-1');
  });

  it('a trustee’s releases cover its batches in order: with two of 1,030 positions’ batches from one trustee only, batch 1 is not opened', () => {
    const many = Array.from({ length: 1030 }, (_, i) => Uint8Array.of(i >> 8, i & 0xff));
    const release = (t: number) => ({ value: { release: { trusteeIndex: t } } });
    const c = {
      policy: { policy: { threshold: 2 } },
      releases: [release(1), release(1), release(2)],
      refusals: [{ value: { refusal: { trusteeIndex: 1, label: many[5] } } }],
    } as unknown as AccessCaseRecord;
    const opened = openedLabels(c, many);
    expect(opened.size).toBe(1023);
    expect(opened.has(toHex(many[5]!))).toBe(false);
    expect(opened.has(toHex(many[1023]!))).toBe(true);
    expect(opened.has(toHex(many[1024]!))).toBe(false);
  });
});
