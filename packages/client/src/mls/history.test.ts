/**
 * The history setting's GroupContext extension and the history-bundle payload (mls/history.ts, client.md §4.6):
 * round trips as properties, every decoder fed random and mutated bytes may only throw our errors (HIS-1, MLS-17),
 * and a group created `'shared'` carries the setting to a joiner through its Welcome.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { accept, newDevice } from '../../test/mls-helpers.js';
import { ClientError, Conversation, generateKeyPackage } from '../index.js';
import {
  decodeHistoryPart,
  encodeHistoryPart,
  HISTORY_EXTENSION_TYPE,
  HISTORY_MAX_PARTS,
  HISTORY_MAX_RECORDS_PER_PART,
  type HistoryPart,
  historyExtensions,
  historySettingOf,
} from './history.js';

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const record = fc.record({ messageId: bytes(16), contentKey: bytes(32), seed: bytes(32) });
const userId = fc
  .array(fc.integer({ min: 0x21, max: 0x7e }), { minLength: 1, maxLength: 128 })
  .map((cs) => String.fromCharCode(...cs));
const part: fc.Arbitrary<HistoryPart> = fc
  .record({
    bundleId: bytes(16),
    forEpoch: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    partCount: fc.integer({ min: 1, max: HISTORY_MAX_PARTS }),
    index: fc.nat(),
    audience: fc.array(userId, { minLength: 1, maxLength: 5 }),
    records: fc.array(record, { minLength: 1, maxLength: HISTORY_MAX_RECORDS_PER_PART }),
  })
  .map(({ index, ...p }) => ({ ...p, partIndex: index % p.partCount }));

/** Decoding either fails with MLS_PAYLOAD_MALFORMED (HIS-1) or yields a value that encodes back to the input. */
function canonicalOrRejected(b: Uint8Array): void {
  let v: HistoryPart;
  try {
    v = decodeHistoryPart(b);
  } catch (e) {
    expect(e).toBeInstanceOf(ClientError);
    expect((e as ClientError).code).toBe('MLS_PAYLOAD_MALFORMED');
    expect((e as ClientError).check).toBe('HIS-1');
    return;
  }
  expect(encodeHistoryPart(v)).toEqual(b);
}

describe('history bundle part', () => {
  test('round trip', () => {
    fc.assert(
      fc.property(part, (p) => {
        expect(decodeHistoryPart(encodeHistoryPart(p))).toEqual(p);
      }),
    );
  });

  test('random and mutated bytes: canonical value or MLS_PAYLOAD_MALFORMED (HIS-1)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), (b) => canonicalOrRejected(b)));
    fc.assert(
      fc.property(part, fc.nat(), fc.integer({ min: 1, max: 255 }), (p, at, mask) => {
        const b = encodeHistoryPart(p);
        const i = at % b.length;
        const mutated = b.slice();
        mutated[i]! ^= mask;
        canonicalOrRejected(mutated);
        canonicalOrRejected(b.subarray(0, i));
        canonicalOrRejected(new Uint8Array([...b, mask]));
      }),
    );
  });

  test('out-of-range fields are refused on both sides', async () => {
    const ok: HistoryPart = {
      bundleId: new Uint8Array(16),
      forEpoch: 3,
      partIndex: 0,
      partCount: 1,
      audience: ['ann'],
      records: [{ messageId: new Uint8Array(16), contentKey: new Uint8Array(32), seed: new Uint8Array(32) }],
    };
    const good = encodeHistoryPart(ok);
    expect(good[0]).toBe(2);
    for (const bad of [
      { ...ok, partIndex: 1 },
      { ...ok, partCount: HISTORY_MAX_PARTS + 1 },
      { ...ok, audience: [] },
      { ...ok, records: [] },
      { ...ok, records: Array(HISTORY_MAX_RECORDS_PER_PART + 1).fill(ok.records[0]) },
      { ...ok, bundleId: new Uint8Array(15) },
    ])
      await expectClientError(() => encodeHistoryPart(bad), 'MLS_USAGE');
    // Version 2, part index = count, zero records, an empty user id: each refused by the decoder.
    const at = { version: 1, index: 26, count: 28, audience: 31, records: 35 };
    const variants: Array<[number, number]> = [
      [at.version, 2],
      [at.index + 1, 1],
      [at.records + 1, 0],
      [at.audience, 0],
    ];
    for (const [i, v] of variants) {
      const b = good.slice();
      b[i] = v;
      await expectClientError(() => decodeHistoryPart(b), 'MLS_PAYLOAD_MALFORMED', 'HIS-1');
    }
  });
});

describe('history setting (GroupContext extension)', () => {
  test('none is no extension, shared is exactly 0x01; anything else is MLS-17', async () => {
    expect(historyExtensions('none')).toEqual([]);
    expect(historySettingOf(historyExtensions('shared'))).toBe('shared');
    expect(historySettingOf([])).toBe('none');
    const ext = (t: number, d: number[]) => ({ extensionType: t, extensionData: Uint8Array.from(d) });
    for (const bad of [
      [ext(HISTORY_EXTENSION_TYPE, [0])],
      [ext(HISTORY_EXTENSION_TYPE, [1, 1])],
      [ext(HISTORY_EXTENSION_TYPE, [1]), ext(HISTORY_EXTENSION_TYPE, [1])],
      [ext(0xf0a2, [1])],
    ])
      await expectClientError(() => historySettingOf(bad), 'MLS_GROUP_POLICY', 'MLS-17');
  });

  test('a shared group carries its setting to a joiner; history parts only in shared groups', async () => {
    const ann = newDevice('ann', 'phone');
    const ben = newDevice('ben', 'phone');
    for (const setting of ['none', 'shared'] as const) {
      const a = await Conversation.create(ann, accept, undefined, setting);
      expect(a.history).toBe(setting);
      const kp = await generateKeyPackage(ben);
      const out = await a.addMembers([kp.keyPackage]);
      await a.mergePendingCommit();
      const { conversation: b } = await Conversation.join(ben, out.welcome!, [kp], accept);
      expect(b.history).toBe(setting);
      expect((await Conversation.restore(ben, b.serialize(), accept)).history).toBe(setting);
      const p: HistoryPart = {
        bundleId: new Uint8Array(16),
        forEpoch: Number(b.epoch),
        partIndex: 0,
        partCount: 1,
        audience: ['ben'],
        records: [
          { messageId: new Uint8Array(16), contentKey: new Uint8Array(32), seed: new Uint8Array(32) },
        ],
      };
      if (setting === 'none') {
        await expectClientError(a.encryptHistory(p), 'MLS_GROUP_POLICY', 'HIS-2');
        continue;
      }
      const got = await b.processIncoming(await a.encryptHistory(p));
      expect(got).toMatchObject({ kind: 'history', part: p, sender: { userId: 'ann' } });
    }
  });
});
