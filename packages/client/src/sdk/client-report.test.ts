// Abuse reports end to end (DESIGN §4 flow 10, threat A12; client.md §4.5, relay.md §10): a recipient's client
// checks the relay's stamp on receipt, keeps the ready report across restarts, files it; the organisation reads
// it bound to its sender. A stamp that does not verify, or an edited report, goes nowhere.
import {
  decodeReport,
  encodeReport,
  generateSigningKey,
  MAX_REPORT_PLAINTEXT,
  randomBytes,
  utf8Decode,
  utf8Encode,
  verifyReport,
} from '@overt/core';
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { ORG } from '../../test/relay-world.js';
import { useWorld } from '../../test/use-world.js';
import {
  type ClientEvent,
  encodeFileContent,
  MemoryStore,
  OvertClient,
  REPORTABLE_MAX,
  reportableKey,
} from '../index.js';

const w = useWorld();

type MessageEvent = Extract<ClientEvent, { kind: 'message' }>;
const messages = (events: ClientEvent[]) => events.filter((e): e is MessageEvent => e.kind === 'message');

describe('abuse reports (A12)', () => {
  it('a recipient reports a message after a restart; the organisation verifies it is bound to its sender', async () => {
    const pinned = { relayFrankingKey: w.h.frankingKey!.publicKey };
    const alice = await w.device('alice', 'alice-phone', undefined, pinned);
    const bobStore = new MemoryStore();
    const bob = await w.device('bob', 'bob-phone', bobStore, pinned);
    // Carol pins a wrong key; dave pins none.
    const carol = await w.device('carol', 'carol-phone', undefined, {
      relayFrankingKey: generateSigningKey().publicKey,
    });
    const dave = await w.device('dave', 'dave-phone');
    for (const d of [bob, carol, dave]) await d.client.publishKeyPackages(1);
    const { conversationId } = await alice.client.createConversation(['bob', 'carol', 'dave']);
    for (const d of [bob, carol, dave]) await d.client.sync();

    const sent = await alice.client.sendText(conversationId, 'you are fired, and so is your cat');
    const [atBob] = messages(await bob.client.sync());
    expect(atBob).toMatchObject({ stampStatus: 'verified', reportable: true });
    expect(atBob!.stamp?.length).toBe(73);
    const [atCarol] = messages(await carol.client.sync());
    // FRK-5: a stamp that does not verify under the pinned key is not kept; the message is still shown.
    expect(atCarol).toMatchObject({ stampStatus: 'invalid', reportable: false, stamp: undefined });
    expect(utf8Decode(atCarol!.payload)).toBe('you are fired, and so is your cat');
    await expectClientError(carol.client.report(sent.messageId), 'SDK_NOT_REPORTABLE', 'FRK-6');
    const [atDave] = messages(await dave.client.sync());
    expect(atDave).toMatchObject({ stampStatus: 'unverified', reportable: true });

    // A new session over bob's store (a restart) still holds the report.
    const bob2 = await OvertClient.open({
      url: w.url,
      orgId: ORG,
      userId: 'bob',
      deviceId: 'bob-phone',
      signingKey: bob.key,
      store: bobStore,
      trust: w.trust,
      ...pinned,
    });
    const filed = await bob2.report(sent.messageId, { reason: 'threatening' });
    expect(filed).toMatchObject({ result: 'stored', senderUserId: 'alice' });
    expect(filed.messageId).toEqual(sent.messageId);
    expect((await bob2.report(sent.messageId)).result).toBe('duplicate');
    // Dave's unverified stamp was genuine: the organisation accepts his report too.
    expect((await dave.client.report(sent.messageId)).result).toBe('stored');

    const list = await w.admin.listReports(filed.reportId - 1);
    expect(list[0]).toMatchObject({
      reportId: filed.reportId,
      reporterUserId: 'bob',
      senderUserId: 'alice',
      senderDeviceId: 'alice-phone',
      reason: 'threatening',
    });
    const detail = await w.admin.getReport(filed.reportId);
    expect(utf8Decode(detail.plaintext)).toBe('you are fired, and so is your cat');
    const v = verifyReport(detail.report, {
      relayPublicKey: w.h.frankingKey!.publicKey,
      reporterUserId: 'bob',
    });
    expect(v.header.senderUserId).toBe('alice');
    expect(utf8Decode(v.header.senderDeviceId)).toBe('alice-phone');

    // A report edited on the device (another text) is refused by the organisation (FRK-3); nothing is stored.
    const second = await alice.client.sendText(conversationId, 'see you at noon');
    await bob2.sync();
    const key = reportableKey(second.messageId);
    const kept = decodeReport((await bobStore.get(key))!);
    await bobStore.put(key, encodeReport({ ...kept, plaintext: utf8Encode('see you at moon') }));
    const before = (await w.admin.listReports()).length;
    const refused = await expectClientError(bob2.report(second.messageId), 'RELAY_REFUSED', 'FRK-3');
    expect(refused.relayCode).toBe('REPORT_OPENING');
    expect((await w.admin.listReports()).length).toBe(before);
    // Forgotten: no longer reportable.
    await bob2.forgetReportable(second.messageId);
    await expectClientError(bob2.report(second.messageId), 'SDK_NOT_REPORTABLE', 'FRK-6');
    // A message this device never received.
    await expectClientError(bob2.report(randomBytes(16)), 'SDK_NOT_REPORTABLE', 'FRK-6');
  });

  it('the reporting limit: a payload of exactly REPORTABLE_MAX is reported through the relay; one byte more is shown but not kept', async () => {
    // One limit (franking.md §2): the client's, core's MAX_REPORT_PLAINTEXT and the relay's report route agree.
    expect(REPORTABLE_MAX).toBe(MAX_REPORT_PLAINTEXT);
    const pinned = { relayFrankingKey: w.h.frankingKey!.publicKey };
    const erin = await w.device('erin', 'erin-phone', undefined, pinned);
    const fred = await w.device('fred', 'fred-phone', undefined, pinned);
    await fred.client.publishKeyPackages(1);
    const { conversationId } = await erin.client.createConversation(['fred']);
    await fred.client.sync();
    // The limit is on the envelope plaintext: a file's data plus its FileContent framing (client.md §4.8).
    const framing = encodeFileContent({
      contentType: 'application/octet-stream',
      name: '',
      data: new Uint8Array(0),
    }).length;
    const atLimit = await erin.client.sendFile(
      conversationId,
      randomBytes(REPORTABLE_MAX - framing),
      'application/octet-stream',
    );
    const [kept] = messages(await fred.client.sync());
    expect(kept).toMatchObject({ stampStatus: 'verified', reportable: true });
    // The largest report goes through the relay's report route and verifies there (not 413, not FRK-1).
    expect(await fred.client.report(atLimit.messageId)).toMatchObject({
      result: 'stored',
      senderUserId: 'erin',
    });
    const over = await erin.client.sendFile(
      conversationId,
      randomBytes(REPORTABLE_MAX - framing + 1),
      'application/octet-stream',
    );
    const [got] = messages(await fred.client.sync());
    expect(got).toMatchObject({ stampStatus: 'verified', reportable: false });
    expect(got!.payload.length).toBe(REPORTABLE_MAX - framing + 1);
    await expectClientError(fred.client.report(over.messageId), 'SDK_NOT_REPORTABLE', 'FRK-6');
  });
});
