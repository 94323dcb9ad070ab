// docs/spec/relay.md §6.7 over real HTTP: the current epoch follows the relay's clock, not the highest published
// epoch (DESIGN §3, calendar-month epochs). Next month's key published ahead of time is served by number only,
// an envelope must name the epoch of its send time (RLY-11), and a missing current key is refused (RLY-17).
import {
  type Element,
  group,
  type HeaderFields,
  randomNonZeroScalar,
  sealEnvelope,
  toBase64,
  toBase64Url,
  utf8Encode,
} from '@overt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createConversation,
  type Device,
  type Harness,
  publishEpochKey,
  startHarness,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch, epochStartMs } from '../epochs.js';

// The relay's clock starts one minute before 2030-01-01T00:00Z (epoch 719 → 720). Requests are signed with the
// real clock, so the signed-request window (AUTH-5) is widened to cover the gap; the envelope window is not.
const DECEMBER = calendarMonthEpoch(Date.UTC(2029, 11, 15));
const JANUARY = DECEMBER + 1;
let clock = epochStartMs(JANUARY) - 60_000;

let h: Harness;
let alice: Device;
/** A conversation of alice's phone alone (the ingest rules need a real one, RLY-19). */
let conversationId: Uint8Array;
const keys = new Map<number, Element>();

const fields = (extra: Partial<HeaderFields> = {}) =>
  textFields(DECEMBER, { conversationId, recipients: ['alice'], sendTime: clock, ...extra });

async function publish(epoch: number) {
  const { epochKey, response } = await publishEpochKey(h.admin, h.adminKey, epoch, { time: clock });
  if (response.status === 201) keys.set(epoch, epochKey);
  return response;
}

async function put(extra: Partial<HeaderFields>, epochKey: Element) {
  const sealed = await sealEnvelope(fields(extra), utf8Encode('x'), epochKey, alice.key);
  return alice.request('PUT', `/v1/envelopes/${toBase64Url(sealed.header.messageId)}`, sealed.envelope);
}

beforeAll(async () => {
  h = await startHarness({ now: () => clock, freshnessMs: 100 * 365 * 86_400_000 });
  alice = await h.enrol('alice', 'alice-phone');
  conversationId = (await createConversation(alice, [])).groupId;
});
afterAll(async () => {
  await h.close();
});

describe('the current epoch follows the clock (RLY-11, RLY-17)', () => {
  it('RLY-17: with no key for the current epoch, GET current and ingest are refused', async () => {
    expect(DECEMBER).toBe(12 * (2029 - 1970) + 11);
    const got = await alice.request('GET', '/v1/epoch-keys/current');
    expect(got.status).toBe(503);
    expect(got.body).toMatchObject({ code: 'EPOCH_KEY_NOT_PUBLISHED', check: 'RLY-17' });
    const r = await put({}, group.baseMul(randomNonZeroScalar()));
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ code: 'EPOCH_KEY_NOT_PUBLISHED', check: 'RLY-17' });
  });

  it("serves this month's key as current while next month's is published ahead of time", async () => {
    expect((await publish(DECEMBER)).status).toBe(201);
    expect((await publish(JANUARY)).status).toBe(201);
    // Publishing an epoch twice stays refused (STORE-R-2).
    expect((await publish(JANUARY)).body).toMatchObject({ code: 'EPOCH_KEY_EXISTS', check: 'STORE-R-2' });
    const current = await alice.request('GET', '/v1/epoch-keys/current');
    expect(current.body).toMatchObject({ epoch: DECEMBER, groupKey: toBase64(keys.get(DECEMBER)!) });
    const ahead = await alice.request('GET', `/v1/epoch-keys/${JANUARY}`);
    expect(ahead.body).toMatchObject({ epoch: JANUARY, groupKey: toBase64(keys.get(JANUARY)!) });
  });

  it("RLY-11: an envelope is accepted under its send time's epoch only", async () => {
    expect((await put({}, keys.get(DECEMBER)!)).status).toBe(201);
    // Sealed this month under next month's published key: refused.
    const early = await put({ epoch: JANUARY }, keys.get(JANUARY)!);
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ code: 'ENV_EPOCH', check: 'RLY-11' });
  });

  it('follows the month boundary: the window is the send time’s, the freshness the relay clock’s', async () => {
    const lastDecemberMs = epochStartMs(JANUARY) - 1;
    clock = epochStartMs(JANUARY) + 1_000;
    const current = await alice.request('GET', '/v1/epoch-keys/current');
    expect(current.body).toMatchObject({ epoch: JANUARY });
    // Sent in the last millisecond of December, received in January: December's epoch, fresh.
    expect((await put({ sendTime: lastDecemberMs }, keys.get(DECEMBER)!)).status).toBe(201);
    const late = await put({ sendTime: lastDecemberMs, epoch: JANUARY }, keys.get(JANUARY)!);
    expect(late.body).toMatchObject({ code: 'ENV_EPOCH', check: 'RLY-11' });
    expect((await put({ sendTime: clock, epoch: JANUARY }, keys.get(JANUARY)!)).status).toBe(201);
    // A December send time older than the skew window is stale (RLY-12), though its key is published.
    const stale = await put({ sendTime: epochStartMs(DECEMBER) + 1_000 }, keys.get(DECEMBER)!);
    expect(stale.body).toMatchObject({ code: 'ENV_TIME', check: 'RLY-12' });
  });
});
