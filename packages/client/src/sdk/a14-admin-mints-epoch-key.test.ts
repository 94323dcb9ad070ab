// DESIGN A14 end to end, against real processes (a real relay with its log sequencer, two real witness daemons,
// the trustee stand-ins of relay-world.ts): the holder of the organisation's admin key generates x, Y = x·G and
// fake verification keys that interpolate to Y, and tries to get honest clients to seal to Y.
//   (i)   through the relay's admin API, signed by the admin key and by trustee keys it made up: refused (AUTH-11);
//   (ii)  written straight into the log through the sequencer, as a relay operator who holds the admin key would,
//         and served by the relay: every honest client refuses to seal to it (KT-8) and raises an alert;
//   (iii) a second, different, validly signed key for an epoch that already has one: an alert (KT-9), no sealing,
//         also for a client that had the first key cached;
//   (iv)  a new policy swapping a trustee for a key the admin holds: every client shows a notice (KT-10) — and,
//         the honest limit (docs/SECURITY.md A14), once the admin holds k trustee keys through such a policy it
//         can mint later epochs' keys, which clients accept: the notice is what tells the users.
import {
  type Element,
  epochKeyEntry,
  generateSigningKey,
  group,
  type Policy,
  randomBytes,
  randomNonZeroScalar,
  type Scalar,
  type SigningKeyPair,
  scalarFromInt,
  signEpochKeyStatement,
  toBase64,
  type VerifiedPolicy,
} from '@overt/core';
import { describe, expect, it } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { ORG } from '../../test/relay-world.js';
import { useWorld } from '../../test/use-world.js';
import type { ClientEvent, OvertClient } from '../index.js';

const w = useWorld();

/** What the admin-key holder makes: x, Y = x·G, and Y_i = Y + i·A, which interpolate to Y (DIR-6 passes). */
function mint(): { x: Scalar; groupKey: Element; verificationKeys: Element[] } {
  const x = randomNonZeroScalar();
  const groupKey = group.baseMul(x);
  const slope = group.baseMul(randomNonZeroScalar());
  return {
    x,
    groupKey,
    verificationKeys: [1, 2, 3].map((i) => group.add(groupKey, group.mul(scalarFromInt(i), slope))),
  };
}

/** An epoch-key statement for `epoch` with the minted key, under `policy`, signed by `signers` as indices 1... */
function statement(
  epoch: number,
  key: ReturnType<typeof mint>,
  signers: readonly SigningKeyPair[],
  policy: VerifiedPolicy = w.policy(),
): Uint8Array {
  return signEpochKeyStatement(
    {
      orgId: ORG,
      epoch,
      policyHash: policy.hash,
      threshold: 2,
      groupKey: key.groupKey,
      verificationKeys: key.verificationKeys,
      transcriptHash: randomBytes(32),
      sessionId: randomBytes(32),
      time: Date.now(),
    },
    signers.map((k, i) => ({ index: i + 1, key: k })),
  );
}

/** The operator appends an entry through the sequencer (no relay check) and waits until it is witnessed. */
async function appendDirectly(entry: Uint8Array): Promise<number> {
  const { index } = await w.h.sequencer.append(entry);
  await w.witnessed();
  return index;
}

let pairs = 0;
/**
 * A sender with a conversation, whose relay answers epoch-key requests with `serve` (the operator's relay serving
 * its own key and log index); counts envelope uploads, so "no sealing" is observable.
 */
async function sender(serve?: { groupKey: Element; logIndex: number }) {
  const n = ++pairs;
  const a = await w.device(`mal-${n}`, `mal-${n}-phone`);
  const b = await w.device(`nia-${n}`, `nia-${n}-phone`);
  await b.client.publishKeyPackages(1);
  const { conversationId } = await a.client.createConversation([b.userId]);
  let puts = 0;
  const client = await w.reopen(a, {
    monitorLog: true,
    fetch: async (url, init) => {
      if (/\/v1\/envelopes\//.test(url) && init.method === 'PUT') puts++;
      const res = await fetch(url, init);
      if (serve === undefined || !/\/v1\/epoch-keys\/\d+$/.test(url)) return res;
      const body = await res.json();
      body.groupKey = toBase64(serve.groupKey);
      body.logIndex = serve.logIndex;
      return new Response(JSON.stringify(body), { status: res.status, headers: res.headers });
    },
  });
  return { client, conversationId, puts: () => puts };
}

function alertsOf(events: readonly ClientEvent[], alert: string): ClientEvent[] {
  return events.filter((e) => e.kind === 'alert' && e.alert === alert);
}

describe('A14: the admin cannot mint an epoch key alone', () => {
  it('(i) through the admin API: admin-signed, made-up trustees, an unlogged policy — refused with AUTH-11', async () => {
    const key = mint();
    const epoch = w.epoch + 5;
    const admin = w.adminKey;
    const madeUp = [generateSigningKey(), generateSigningKey(), generateSigningKey()];
    // The admin's own policy naming its own keys as trustees, signed but never logged.
    const ownPolicy = { ...w.policy(), hash: randomBytes(32) } as VerifiedPolicy;
    for (const bytes of [
      statement(epoch, key, [admin, admin]),
      statement(epoch, key, [admin, admin, admin]),
      statement(epoch, key, madeUp),
      statement(epoch, key, [w.trustees[0]!]),
      statement(epoch, key, madeUp.slice(0, 2), ownPolicy),
    ]) {
      const e = await expectClientError(
        w.admin.request('POST', '/v1/admin/epoch-keys', { statement: toBase64(bytes) }),
        'RELAY_REFUSED',
        'AUTH-11',
      );
      expect(e.relayCode).toBe('EPOCH_KEY_INVALID');
    }
    // Nothing was published or logged.
    expect(await w.h.relay.storage.getEpochKey(epoch)).toBeUndefined();
  });

  it('(ii) written straight into the log and served by the relay: every honest client refuses to seal (KT-8) and alerts', async () => {
    const key = mint();
    // The current epoch (what a send seals to) and a later one the relay's own database is made to serve.
    const rogueNow = await appendDirectly(epochKeyEntry(statement(w.epoch, key, [w.adminKey, w.adminKey])));
    const later = w.epoch + 2;
    const laterStatement = statement(later, key, [generateSigningKey(), generateSigningKey()]);
    const rogueLater = await appendDirectly(epochKeyEntry(laterStatement));
    await w.h.relay.storage.putEpochKey({
      epoch: later,
      threshold: 2,
      groupKey: key.groupKey,
      verificationKeys: key.verificationKeys,
      transcriptHash: randomBytes(32),
      statement: laterStatement,
      logIndex: rogueLater,
      publishedAt: Date.now(),
    });
    const clients: OvertClient[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await sender({ groupKey: key.groupKey, logIndex: rogueNow });
      const e = await expectClientError(
        s.client.sendText(s.conversationId, 'secret'),
        'KT_EPOCH_KEY_UNTRUSTED',
        'KT-8',
      );
      expect(e.message).toMatch(/DIR-5/);
      expect(s.puts()).toBe(0);
      // The relay really serves the rogue key of the later epoch from its database: refused too.
      await expectClientError(s.client.kt.epochKey(later), 'KT_EPOCH_KEY_UNTRUSTED', 'KT-8');
      clients.push(s.client);
    }
    for (const c of clients) {
      const alerts = alertsOf(await c.monitorLog(), 'epoch-key-invalid');
      expect(alerts).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ epoch: w.epoch, logIndex: rogueNow, reason: 'DIR-5', check: 'KT-8' }),
          expect.objectContaining({ epoch: later, logIndex: rogueLater, reason: 'DIR-5', check: 'KT-8' }),
        ]),
      );
    }
    // The honest key of the epoch is still the one clients seal to.
    const honest = await sender();
    await honest.client.sendText(honest.conversationId, 'still fine');
    expect(honest.puts()).toBe(1);
  });

  it('(iii) a second, different, validly signed key for an epoch that has one: alert (KT-9), no sealing to either', async () => {
    // A client that has already sealed to the honest key (cached for the session).
    const early = await sender();
    await early.client.sendText(early.conversationId, 'before');
    expect(early.puts()).toBe(1);
    // Through the admin API the second key is refused outright (one key per epoch, STORE-R-2).
    const key = mint();
    const e = await expectClientError(
      w.admin.request('POST', '/v1/admin/epoch-keys', {
        statement: toBase64(statement(w.epoch, key, w.trustees.slice(0, 2))),
      }),
      'RELAY_REFUSED',
      'STORE-R-2',
    );
    expect(e.relayCode).toBe('EPOCH_KEY_EXISTS');
    // Straight into the log: it verifies (k trustee signatures, interpolating keys), so it is a conflict.
    const second = await appendDirectly(epochKeyEntry(statement(w.epoch, key, w.trustees.slice(0, 2))));
    const late = await sender();
    await expectClientError(
      late.client.sendText(late.conversationId, 'secret'),
      'KT_EPOCH_KEY_CONFLICT',
      'KT-9',
    );
    expect(late.puts()).toBe(0);
    // The early client learns of it when it reads the log, and stops sealing with its cached key.
    const events = await early.client.sync();
    expect(alertsOf(events, 'epoch-key-conflict')).toEqual([
      expect.objectContaining({ epoch: w.epoch, logIndex: second, check: 'KT-9' }),
    ]);
    await expectClientError(
      early.client.sendText(early.conversationId, 'after'),
      'KT_EPOCH_KEY_CONFLICT',
      'KT-9',
    );
    expect(early.puts()).toBe(1);
    expect(alertsOf(await late.client.monitorLog(), 'epoch-key-conflict')).toHaveLength(1);
  });

  it('(iv) a new policy swapping a trustee for an admin key: every client shows the notice (KT-10); the honest limit', async () => {
    const a = await w.device('ola', 'ola-phone', undefined, { monitorLog: true });
    const b = await w.device('pim', 'pim-phone', undefined, { monitorLog: true });
    for (const c of [a, b]) await c.client.monitorLog();
    const rogue = [generateSigningKey(), generateSigningKey()];
    const trustees: Policy['trustees'] = w
      .policy()
      .policy.trustees.map((t, i) => (i === 0 ? t : { ...t, signingKey: rogue[i - 1]!.publicKey }));
    const before = w.policy().policy.serial;
    const { policy, logIndex } = await w.publishPolicy({ trustees });
    for (const c of [a, b]) {
      const notices = (await c.client.sync()).filter((e) => e.kind === 'notice');
      expect(notices).toEqual([
        {
          kind: 'notice',
          notice: 'policy-changed',
          serial: before + 1,
          previousSerial: before,
          changes: [
            'trustee 2 (Trustee 2) signing key replaced',
            'trustee 3 (Trustee 3) signing key replaced',
          ],
          logIndex,
          check: 'KT-10',
        },
      ]);
    }
    // The honest limit: holding k trustee keys through a logged policy, the admin can mint a later epoch's key,
    // and clients accept it. They were told, by the notice above, that the trustees changed.
    const key = mint();
    const epoch = w.epoch + 3;
    const only23 = signEpochKeyStatement(
      {
        orgId: ORG,
        epoch,
        policyHash: policy.hash,
        threshold: 2,
        groupKey: key.groupKey,
        verificationKeys: key.verificationKeys,
        transcriptHash: randomBytes(32),
        sessionId: randomBytes(32),
        time: Date.now(),
      },
      rogue.map((k, i) => ({ index: i + 2, key: k })),
    );
    // Signed as trustees 2 and 3, the keys the admin put in the policy.
    await w.admin.request('POST', '/v1/admin/epoch-keys', { statement: toBase64(only23) });
    await w.witnessed();
    expect(group.baseMul(key.x)).toEqual(await a.client.kt.epochKey(epoch));
  });
});
