// The key-transparency map (directory.md §7.3–§7.7): map values and map root entries decode canonically (MAP-5,
// MAP-6); lookups verify for present and absent users at every epoch and refuse another user's proof, a tampered
// value or mutated bytes (MAP-1..MAP-4); owners' monitoring rebuilds exactly the published entries and surfaces
// every change of their own label (MAP-7, MAP-8, MAP-9); and an epoch's root does not depend on the order of its
// batch (MAP-10's replay).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../bytes.js';
import { OvertError } from '../errors.js';
import {
  checkMapChain,
  decodeMapRootEntry,
  decodeMapValue,
  encodeMapRootEntry,
  encodeMapValue,
  MapBuilder,
  type MapValue,
  mapEntryHash,
  mapEpochChanges,
  mapValueAfter,
  monitorStateFromLookup,
  verifyLookup,
  verifyMonitorProof,
} from './map.js';

function code(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof OvertError)) throw e;
    return e.code;
  }
}

const key = (n: number) => new Uint8Array(32).fill(n);
const value = (statementIndex: number, ...devices: [string, number][]): MapValue => ({
  statementIndex,
  devices: devices.map(([deviceId, n]) => ({ deviceId, identityKey: key(n), addedIndex: n })),
});

function builder(): MapBuilder {
  return new MapBuilder({ orgId: 'example.org', vrfSecretKey: key(0x5e), commitSecret: key(0xc0) });
}

/** Five epochs: alice in 0 and 3, bob in 0, 20 others spread over epochs 1..4. */
function fiveEpochs(): MapBuilder {
  const b = builder();
  b.publish(
    [
      { userId: 'alice', value: value(1, ['phone', 1]) },
      { userId: 'bob', value: value(2, ['laptop', 2]) },
    ],
    1000,
    3,
  );
  for (let e = 1; e <= 4; e++) {
    const changes = [];
    for (let i = 0; i < 5; i++)
      changes.push({ userId: `user${e}-${i}`, value: value(10 * e + i, ['d', 10 * e + i]) });
    if (e === 3) changes.push({ userId: 'alice', value: value(31, ['phone', 1], ['tablet', 31]) });
    b.publish(changes, 1000 + e, 3 + 10 * e);
  }
  return b;
}

describe('map values (MAP-6)', () => {
  it('round-trips with devices sorted; refuses unsorted, duplicate, bad ids and trailing bytes', () => {
    const v = value(7, ['zeta', 1], ['alpha', 2]);
    const bytes = encodeMapValue(v);
    expect(decodeMapValue(bytes).devices.map((d) => d.deviceId)).toEqual(['alpha', 'zeta']);
    const sorted = encodeMapValue(value(7, ['alpha', 2], ['zeta', 1]));
    expect(bytes).toEqual(sorted);
    // Swap the two devices' records (each 1 + 5/4 + 32 + 8 bytes): unsorted.
    const a = bytes.subarray(11, 11 + 1 + 5 + 40);
    const z = bytes.subarray(11 + 46);
    const swapped = new Uint8Array([...bytes.subarray(0, 11), ...z, ...a]);
    expect(code(() => decodeMapValue(swapped))).toBe('MAP_VALUE_INVALID');
    const dup = new Uint8Array([...bytes.subarray(0, 11), ...a, ...a]);
    expect(code(() => decodeMapValue(dup))).toBe('MAP_VALUE_INVALID');
    const badId = bytes.slice();
    badId[12] = 0x20; // a space in "alpha"
    expect(code(() => decodeMapValue(badId))).toBe('MAP_VALUE_INVALID');
    expect(code(() => decodeMapValue(new Uint8Array([...bytes, 0])))).toBe('MAP_VALUE_INVALID');
    expect(code(() => decodeMapValue(new Uint8Array([2, ...bytes.subarray(1)])))).toBe('MAP_VALUE_INVALID');
    for (let n = 0; n < bytes.length; n++)
      expect(code(() => decodeMapValue(bytes.subarray(0, n)))).toBe('MAP_VALUE_INVALID');
  });
});

describe('map root entries (MAP-5, MAP-7, MAP-9)', () => {
  const b = fiveEpochs();

  it('decode to what was published and chain by leaf hash', () => {
    for (let e = 0; e < 5; e++) {
      const d = decodeMapRootEntry(b.entry(e));
      expect(d.epoch).toBe(e);
      expect(encodeMapRootEntry(d)).toEqual(b.entry(e));
      expect(toHex(d.prefixRoot)).toBe(toHex(b.tree.root(e)));
      if (e > 0) checkMapChain(decodeMapRootEntry(b.entry(e - 1)), mapEntryHash(b.entry(e - 1)), d);
    }
    expect(b.entry(0)[0]).toBe(13);
  });

  it('refuses truncation, trailing bytes, a wrong type or version, a bad org id or VRF key, and epoch 0 with a predecessor', () => {
    const e1 = b.entry(1);
    for (let n = 0; n < e1.length; n++)
      expect(code(() => decodeMapRootEntry(e1.subarray(0, n)))).toBe('MAP_ENTRY_INVALID');
    expect(code(() => decodeMapRootEntry(new Uint8Array([...e1, 0])))).toBe('MAP_ENTRY_INVALID');
    const at = (i: number, v: number) => {
      const x = e1.slice();
      x[i] = v;
      return x;
    };
    expect(code(() => decodeMapRootEntry(at(0, 12)))).toBe('MAP_ENTRY_INVALID');
    expect(code(() => decodeMapRootEntry(at(1, 2)))).toBe('MAP_ENTRY_INVALID');
    expect(code(() => decodeMapRootEntry(at(3, 0x20)))).toBe('MAP_ENTRY_INVALID');
    const orgLen = e1[2]!;
    const badKey = e1.slice();
    badKey.fill(0, 3 + orgLen, 3 + orgLen + 32); // the identity's y = 0: not a point of large order
    expect(code(() => decodeMapRootEntry(badKey))).toBe('MAP_ENTRY_INVALID');
    const e0 = b.entry(0).slice();
    e0[e0.length - 1] = 1;
    expect(code(() => decodeMapRootEntry(e0))).toBe('MAP_ENTRY_INVALID');
  });

  it('chain rules: consecutive epochs, the previous hash, the same org and VRF key, nothing going back', () => {
    const prev = decodeMapRootEntry(b.entry(1));
    const h = mapEntryHash(b.entry(1));
    const next = decodeMapRootEntry(b.entry(2));
    checkMapChain(prev, h, next);
    const check = (n: object) => code(() => checkMapChain(prev, h, { ...next, ...n }));
    expect(check({ epoch: 3 })).toBe('MAP_MONITOR_INVALID');
    expect(check({ prevEntryHash: mapEntryHash(b.entry(0)) })).toBe('MAP_MONITOR_INVALID');
    expect(check({ orgId: 'other.org' })).toBe('MAP_MONITOR_INVALID');
    const otherKey = new MapBuilder({ orgId: 'example.org', vrfSecretKey: key(1), commitSecret: key(2) })
      .vrfPublicKey;
    expect(check({ vrfPublicKey: otherKey })).toBe('MAP_MONITOR_INVALID');
    expect(check({ timeMs: prev.timeMs - 1 })).toBe('MAP_MONITOR_INVALID');
    expect(check({ coveredSize: prev.coveredSize - 1 })).toBe('MAP_MONITOR_INVALID');
  });
});

describe('lookups (MAP-1..MAP-4)', () => {
  const b = fiveEpochs();

  it('present and absent users verify at every epoch, with the version of that epoch', () => {
    for (let e = 0; e < 5; e++) {
      const entry = decodeMapRootEntry(b.entry(e));
      const alice = verifyLookup(entry, 'alice', b.lookup('alice', e));
      expect(alice.present).toBe(true);
      if (alice.present) {
        expect(alice.version).toBe(e >= 3 ? 1 : 0);
        expect(alice.value.devices.map((d) => d.deviceId)).toEqual(e >= 3 ? ['phone', 'tablet'] : ['phone']);
      }
      expect(verifyLookup(entry, 'mallory', b.lookup('mallory', e)).present).toBe(false);
      // user3-0 enters at epoch 3: absent before.
      expect(verifyLookup(entry, 'user3-0', b.lookup('user3-0', e)).present).toBe(e >= 3);
    }
  });

  it("another user's proof, another epoch's root or a tampered value is refused", () => {
    const entry = decodeMapRootEntry(b.entry(4));
    const p = b.lookup('alice');
    expect(code(() => verifyLookup(entry, 'bob', p))).toBe('VRF_PROOF_INVALID');
    expect(code(() => verifyLookup(decodeMapRootEntry(b.entry(2)), 'alice', p))).toBe('MAP_PROOF_INVALID');
    const tampered = p.slice();
    tampered[tampered.length - 9]! ^= 1; // inside the last device's identity key
    expect(code(() => verifyLookup(entry, 'alice', tampered))).toBe('MAP_PROOF_INVALID');
  });

  it('fuzz: any flipped byte or truncation of a lookup proof gives only typed errors', () => {
    const entry = decodeMapRootEntry(b.entry(4));
    const p = b.lookup('alice');
    const allowed = ['VRF_PROOF_INVALID', 'MAP_PROOF_MALFORMED', 'MAP_PROOF_INVALID', 'MAP_VALUE_INVALID'];
    for (let i = 80; i < p.length; i += 3) {
      const bad = p.slice();
      bad[i]! ^= 0x80 >> (i & 7);
      expect(allowed).toContain(code(() => verifyLookup(entry, 'alice', bad)));
    }
    for (const n of [0, 79, 80, 81, 83, p.length - 1]) {
      expect(allowed).toContain(code(() => verifyLookup(entry, 'alice', p.subarray(0, n))));
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(allowed).toContain(code(() => verifyLookup(entry, 'alice', bytes)));
      }),
      { numRuns: 100 },
    );
  });
});

describe('owner monitoring (MAP-7, MAP-8, MAP-9)', () => {
  const b = fiveEpochs();
  const initial = monitorStateFromLookup(
    b.entry(0),
    'alice',
    verifyLookup(decodeMapRootEntry(b.entry(0)), 'alice', b.lookup('alice', 0)),
  );
  const start = () => initial;

  it('rebuilds every published entry and reports the change of epoch 3', () => {
    const { state, changes } = verifyMonitorProof(start(), b.monitor('alice', 0, 4));
    expect(encodeMapRootEntry(state.entry)).toEqual(b.entry(4));
    expect(state.entryHash).toEqual(mapEntryHash(b.entry(4)));
    expect(changes.map((c) => [c.epoch, c.version, c.value.devices.length])).toEqual([[3, 1, 2]]);
    // In two rounds, the same.
    const half = verifyMonitorProof(start(), b.monitor('alice', 0, 2));
    expect(encodeMapRootEntry(half.state.entry)).toEqual(b.entry(2));
    const rest = verifyMonitorProof(half.state, b.monitor('alice', 2, 4));
    expect(encodeMapRootEntry(rest.state.entry)).toEqual(b.entry(4));
  });

  it('sends only the siblings that changed', () => {
    const quiet = builder();
    quiet.publish([{ userId: 'alice', value: value(1, ['phone', 1]) }], 1, 1);
    for (let e = 1; e < 4; e++) quiet.publish([], 1 + e, 1);
    const s = monitorStateFromLookup(
      quiet.entry(0),
      'alice',
      verifyLookup(decodeMapRootEntry(quiet.entry(0)), 'alice', quiet.lookup('alice', 0)),
    );
    const p = quiet.monitor('alice', 0, 3);
    // 4 + 3 × (17 time/size/flag + 2 depth + 1 mask byte), no sibling: nothing changed.
    expect(p.length).toBe(4 + 3 * 20);
    expect(encodeMapRootEntry(verifyMonitorProof(s, p).state.entry)).toEqual(quiet.entry(3));
  });

  it('a tampered proof never yields the published entry: it throws a typed error or rebuilds another entry', () => {
    const p = b.monitor('alice', 0, 4);
    const allowed = ['MAP_PROOF_MALFORMED', 'MAP_MONITOR_INVALID', 'MAP_VALUE_INVALID'];
    for (let i = 0; i < p.length; i += 3) {
      const bad = p.slice();
      bad[i]! ^= 0x80 >> (i & 7);
      try {
        const r = verifyMonitorProof(start(), bad);
        expect(encodeMapRootEntry(r.state.entry)).not.toEqual(b.entry(4));
      } catch (e) {
        expect(e).toBeInstanceOf(OvertError);
        expect(allowed).toContain((e as OvertError).code);
      }
    }
    expect(code(() => verifyMonitorProof(start(), p.subarray(0, p.length - 1)))).toBe('MAP_PROOF_MALFORMED');
    expect(code(() => verifyMonitorProof(start(), new Uint8Array([...p, 0])))).toBe('MAP_PROOF_MALFORMED');
  });
});

describe('batch updates (MAP-10)', () => {
  it("an epoch's root is the replay's root, whatever the order of its batch", () => {
    const changes = Array.from({ length: 30 }, (_, i) => ({ userId: `u${i}`, value: value(i, ['d', i]) }));
    const a = builder();
    const c = builder();
    a.publish(changes, 5, 30);
    c.publish([...changes].reverse(), 5, 30);
    expect(a.entry(0)).toEqual(c.entry(0));
    expect(code(() => a.publish([changes[0]!, changes[0]!], 6, 31))).toBe('MAP_UPDATE_INVALID');
    expect(code(() => a.publish([], 4, 31))).toBe('MAP_UPDATE_INVALID');
  });
});

describe('directory statements into map values (§7.3)', () => {
  const k1 = key(1);
  const k2 = key(2);
  it('an addition puts the device, a removal of exactly its key drops it, anything else changes nothing', () => {
    const v1 = mapValueAfter(undefined, { kind: 'added', deviceId: 'phone', identityKey: k1 }, 3)!;
    expect(v1).toEqual({
      statementIndex: 3,
      devices: [{ deviceId: 'phone', identityKey: k1, addedIndex: 3 }],
    });
    const v2 = mapValueAfter(v1, { kind: 'added', deviceId: 'laptop', identityKey: k2 }, 5)!;
    expect(v2.devices.map((d) => d.deviceId)).toEqual(['laptop', 'phone']);
    const v3 = mapValueAfter(v2, { kind: 'added', deviceId: 'phone', identityKey: k2 }, 7)!;
    expect(v3.devices.map((d) => [d.deviceId, d.addedIndex])).toEqual([
      ['laptop', 5],
      ['phone', 7],
    ]);
    expect(mapValueAfter(v3, { kind: 'removed', deviceId: 'phone', identityKey: k1 }, 8)).toBeUndefined();
    expect(mapValueAfter(v3, { kind: 'removed', deviceId: 'tablet', identityKey: k2 }, 8)).toBeUndefined();
    const v4 = mapValueAfter(v3, { kind: 'removed', deviceId: 'phone', identityKey: k2 }, 9)!;
    expect(v4).toEqual({
      statementIndex: 9,
      devices: [{ deviceId: 'laptop', identityKey: k2, addedIndex: 5 }],
    });
    expect(decodeMapValue(encodeMapValue(v4))).toEqual(v4);
  });

  it("an epoch's statements fold to one final value per changed user, in log order", () => {
    const current = new Map([['alice', value(1, ['phone', 1])]]);
    const changes = mapEpochChanges(current, [
      { index: 10, statement: { kind: 'added', userId: 'alice', deviceId: 'tablet', identityKey: k2 } },
      { index: 11, statement: { kind: 'added', userId: 'bob', deviceId: 'laptop', identityKey: k1 } },
      { index: 12, statement: { kind: 'removed', userId: 'alice', deviceId: 'phone', identityKey: key(1) } },
      { index: 13, statement: { kind: 'removed', userId: 'carol', deviceId: 'x', identityKey: k1 } },
    ]);
    expect(
      changes.map((c) => [c.userId, c.value.statementIndex, c.value.devices.map((d) => d.deviceId)]),
    ).toEqual([
      ['alice', 12, ['tablet']],
      ['bob', 11, ['laptop']],
    ]);
    expect(current.get('alice')!.devices).toHaveLength(1);
  });
});
