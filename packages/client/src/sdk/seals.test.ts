// OVD-1 in the client (docs/spec/after-release.md §3, client.md §8.4): the key-transparency monitor reads the
// scripted access history (test/access-history.ts) from a real tiled log and raises `seal-overdue` once per request
// whose seal-until in force has passed with no unseal — B at once; A only after its extended seal runs out; C (unsealed)
// and G (not yet due) never; a forged extension (B's, signed by one trustee) hides nothing. Once means once: again,
// after a restart on the same store, the alert is not raised a second time.
import { concatBytes, equalBytes, generateSigningKey, toBase64 } from '@overt/core';
import { formatVerifierKey, verifierKeyOf } from '@overt/log';
import { describe, expect, it } from 'vitest';
import { orgKey } from '../../../core/test/workflow-fixtures.js';
import { logKey, ORIGIN, relayKey, witnessKeys } from '../../test/access-case.js';
import { buildScriptedHistory, DAY, DEC, logViewOf, NOW } from '../../test/access-history.js';
import { ClientError } from '../errors.js';
import { type TrustAnchors, trustAnchorsFromWellKnown } from '../log/anchors.js';
import { MemoryStore } from '../store/store.js';
import { RelayTransport } from '../transport/relay-transport.js';
import { KeyTransparency, type KtEvent } from './key-transparency.js';

const PREFIX = 'https://relay.test/log/';

function anchors(accessKey: Uint8Array | undefined): TrustAnchors {
  return {
    log: {
      origin: ORIGIN,
      url: PREFIX,
      vkey: formatVerifierKey(verifierKeyOf(logKey)),
      witnessVkeys: witnessKeys.map((w) => formatVerifierKey(verifierKeyOf(w))),
      witnessQuorum: 2,
    },
    adminKey: orgKey.publicKey,
    ...(accessKey ? { accessKey } : {}),
  };
}

function monitorOf(
  h: ReturnType<typeof buildScriptedHistory>,
  store: MemoryStore,
  clock: { now: number },
  accessKey: Uint8Array | null = relayKey.publicKey,
): KeyTransparency {
  const key = generateSigningKey();
  return new KeyTransparency({
    anchors: anchors(accessKey ?? undefined),
    orgId: 'example.org',
    userId: 'alice@example.org',
    deviceId: 'alice-laptop',
    identityKey: key.publicKey,
    store,
    fetch: h.log.fetcher(PREFIX),
    now: () => clock.now,
    // The log's witnesses cosigned at NOW; a later clock still takes that view (nothing newer is served).
    maxLogAgeSeconds: 365 * 86_400,
    transport: new RelayTransport({
      url: 'http://127.0.0.1:1',
      key,
      signer: { kind: 'device', deviceId: 'd' },
    }),
  });
}

const seals = (events: KtEvent[]) =>
  events.flatMap((e) => (e.kind === 'alert' && e.alert === 'seal-overdue' ? [e] : []));

describe('seal-overdue (OVD-1) in the client', () => {
  it('raises each overdue seal once, at the client’s clock, and never again after a restart', async () => {
    const h = buildScriptedHistory();
    const entries = logViewOf(h.log).entries;
    const indexOf = (r: 'A' | 'B') =>
      entries.findIndex((e) => equalBytes(e, concatBytes(Uint8Array.of(5), h.requests[r].signed)));
    const store = new MemoryStore();
    const clock = { now: NOW };
    const kt = monitorOf(h, store, clock);
    await kt.init();

    const first = seals(await kt.monitor());
    expect(first).toEqual([
      {
        kind: 'alert',
        alert: 'seal-overdue',
        requestId: h.requests.B.request.requestId,
        sealUntil: DEC + 11 * DAY,
        logIndex: indexOf('B'),
        check: 'OVD-1',
      },
    ]);
    expect(seals(await kt.monitor())).toEqual([]);
    // A restart on the same store: nothing new, nothing repeated.
    expect(seals(await monitorOf(h, store, clock).monitor())).toEqual([]);

    // A's seal, extended to Mar 1 by k trustees, runs out; C (unsealed) and G (Apr 16) stay quiet.
    clock.now = Date.UTC(2027, 2, 1);
    expect(seals(await kt.monitor())).toEqual([]);
    clock.now = Date.UTC(2027, 2, 1) + 1;
    const later = seals(await kt.monitor());
    expect(later.map((a) => [a.logIndex, a.sealUntil])).toEqual([[indexOf('A'), Date.UTC(2027, 2, 1)]]);
    expect(seals(await kt.monitor())).toEqual([]);
  });

  it('without the relay’s access key in the anchors no unseal verifies, so nothing is judged', async () => {
    const h = buildScriptedHistory();
    const kt = monitorOf(h, new MemoryStore(), { now: NOW }, null);
    await kt.init();
    expect(seals(await kt.monitor())).toEqual([]);
  });

  it('the anchors take the relay’s accessKey from /.well-known/overt; a malformed one is KT_ANCHORS_INVALID (KT-1)', () => {
    const a = anchors(undefined);
    const doc = (accessKey?: unknown) => ({
      org: 'example.org',
      admin_key: toBase64(a.adminKey),
      log: {
        origin: a.log.origin,
        url: a.log.url,
        vkey: a.log.vkey,
        witness_vkeys: a.log.witnessVkeys,
        witness_quorum: a.log.witnessQuorum,
      },
      ...(accessKey !== undefined ? { accessKey } : {}),
    });
    expect(trustAnchorsFromWellKnown(doc()).anchors.accessKey).toBeUndefined();
    expect(trustAnchorsFromWellKnown(doc(toBase64(relayKey.publicKey))).anchors.accessKey).toEqual(
      relayKey.publicKey,
    );
    for (const bad of ['', 'not base64!', toBase64(new Uint8Array(31)), 7]) {
      let err: unknown;
      try {
        trustAnchorsFromWellKnown(doc(bad));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ClientError);
      expect((err as ClientError).code).toBe('KT_ANCHORS_INVALID');
    }
  });
});
