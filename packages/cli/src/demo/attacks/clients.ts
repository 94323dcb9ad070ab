/**
 * The attacks on messaging and on the log (DESIGN §6 A5–A7, A12, A14–A16; docs/spec/demo-attacks.md), made against
 * the live system: a malicious client through the relay's public API with its own enrolled device key (mallory),
 * the relay operator through its own database, the log operator with the log's key, the org admin with its key, and
 * a relay that serves one client an old checkpoint. The victims are throwaway people (trudy, and victor for A6),
 * in-memory clients, so no demo user's profile is touched; the ghost device of A6 is removed afterwards.
 */

import { readFileSync } from 'node:fs';
import {
  logPolicyOf,
  type OvertClient,
  RelayTransport,
  reportableKey,
  TEXT_CONTENT_TYPE,
} from '@overt/client';
import {
  calendarMonthEpoch,
  decodeReport,
  encodeEnvelope,
  encodeReport,
  generateSigningKey,
  group,
  randomBytes,
  randomNonZeroScalar,
  scalarFromInt,
  sealCapsule,
  sealEnvelope,
  signEpochKeyStatement,
  signSender,
  toBase64,
  utf8Encode,
} from '@overt/core';
import {
  formatCheckpoint,
  MemoryMonitorStore,
  Monitor,
  parseSignerKey,
  signCheckpoint,
  verifySplitViewEvidence,
} from '@overt/log';
import { SqliteRelayStorage } from '@overt/server';
import type { AttackResult } from '../attack-types.js';
import { type AttackWorld, eventsOf, type Person, refusalOf, refused, shown, sleep } from './world.js';

type Outcome = Omit<AttackResult, 'id'>;

/** The people of these attacks: mallory (the malicious client) and trudy, in one conversation. */
export class ClientScene {
  private made: Promise<void> | undefined;
  mallory!: Person;
  trudy!: Person;
  conversation!: Uint8Array;

  constructor(readonly w: AttackWorld) {}

  ready(): Promise<void> {
    this.made ??= this.make();
    return this.made;
  }

  private async make(): Promise<void> {
    this.mallory = await this.w.person('mallory');
    this.trudy = await this.w.person('trudy');
    const { conversationId } = await this.mallory.client.createConversation([this.trudy.userId]);
    this.conversation = conversationId;
    await this.trudy.client.sync();
  }

  /**
   * An envelope sealed by mallory's own code (core, not her client), uploaded and announced through her MLS state:
   * `forge` changes the sealed envelope; `fields` the header.
   */
  async sendForged(
    forge: (
      s: Awaited<ReturnType<typeof sealEnvelope>>,
      epochKey: Awaited<ReturnType<OvertClient['kt']['epochKey']>>,
    ) => {
      envelope: Uint8Array;
      seed?: Uint8Array;
    },
    fields: { senderUserId?: string; senderDeviceId?: string } = {},
  ): Promise<void> {
    const mallory = this.mallory.client;
    const conv = mallory.conversation(this.conversation);
    const sendTime = Date.now();
    const epoch = calendarMonthEpoch(sendTime);
    const epochKey = await mallory.kt.epochKey(epoch);
    const sealed = await sealEnvelope(
      {
        orgId: this.w.org.orgId,
        epoch,
        conversationId: this.conversation,
        senderUserId: fields.senderUserId ?? mallory.userId,
        senderDeviceId: utf8Encode(fields.senderDeviceId ?? mallory.deviceId),
        recipients: [...new Set(conv.members().map((m) => m.userId))].sort(),
        messageId: randomBytes(16),
        sendTime,
        contentType: TEXT_CONTENT_TYPE,
      },
      utf8Encode('sent without escrow'),
      epochKey,
      this.mallory.key,
    );
    const f = forge(sealed, epochKey);
    await mallory.transport.putEnvelope(sealed.header.messageId, f.envelope);
    const msg = await conv.encrypt({
      messageId: sealed.header.messageId,
      contentKey: sealed.contentKey,
      seed: f.seed ?? sealed.seed,
    });
    await mallory.transport.postMessage(conv.groupId, msg);
  }
}

/** A5: mallory's client skips the escrow — its capsule escrows a random key, not the message's. */
export async function a5(s: ClientScene): Promise<Outcome> {
  await s.ready();
  await s.sendForged((sealed, epochKey) => {
    const capsule = sealCapsule(epochKey, randomBytes(32), sealed.label, randomBytes(32));
    return {
      envelope: encodeEnvelope(
        sealed.headerBytes,
        capsule,
        signSender(s.mallory.key, sealed.label, capsule),
        sealed.envelope.subarray(sealed.head.length),
      ),
    };
  });
  const events = await s.trudy.client.sync();
  const rejected = eventsOf(events, 'rejected')[0] as { code?: string; check?: string } | undefined;
  const shownAsMessage = eventsOf(events, 'message').length;
  const ok = rejected?.check === 'ENV-11' && shownAsMessage === 0;
  return {
    outcome: ok ? 'blocked' : 'not-stopped',
    attempt:
      "a malicious client (its own enrolled device) sends a message whose capsule escrows a random key instead of the message's",
    seen: rejected
      ? `the recipient recomputes the capsule and rejects the message: ${rejected.code} [${rejected.check}]`
      : `the recipient showed ${shownAsMessage} message(s) and rejected nothing`,
  };
}

/** A6: the relay operator adds a ghost device for trudy in its own database (no enrolment on the log). */
export async function a6(s: ClientScene): Promise<Outcome> {
  await s.ready();
  const w = s.w;
  const victor = await w.person('victor');
  const ghostId = `${victor.userId}-ghost`;
  const ghostKey = generateSigningKey();
  const storage = SqliteRelayStorage.open({ path: w.path('relay', 'relay.sqlite') });
  let r: Awaited<ReturnType<typeof refused>>;
  try {
    await storage.beginEnrolment({
      deviceId: ghostId,
      userId: victor.userId,
      identityKey: ghostKey.publicKey,
      now: Date.now(),
    });
    // It points the ghost at the log index of victor's real enrolment, as a relay would.
    const real = (await victor.client.transport.userDevices(victor.userId)).find(
      (d) => d.deviceId === victor.deviceId,
    );
    await storage.completeEnrolment(ghostId, real?.enrolLogIndex ?? 0);
    const ghost = await w.openClient(victor.userId, ghostId, ghostKey);
    await ghost.publishKeyPackages(1);
    // Trudy starts a conversation with victor: her client checks every device of his against the log.
    r = await refused(s.trudy.client.createConversation([victor.userId]));
  } finally {
    await storage.close();
    // The operator removes its ghost again (the live directory stays as the admin made it).
    const db = w.relayDb();
    try {
      db.transaction(() => {
        db.prepare('DELETE FROM key_packages WHERE device_id = ?').run(ghostId);
        db.prepare('DELETE FROM devices WHERE device_id = ?').run(ghostId);
      })();
    } finally {
      db.close();
    }
  }
  return {
    outcome: r !== undefined && r.check !== undefined ? 'blocked' : 'not-stopped',
    attempt:
      "the relay operator adds a ghost device to a user's device list in its database (no enrolment on the log)",
    seen: r
      ? `a client adding that user refuses the ghost: ${shown(r)}${r.code !== 'MLS_CREDENTIAL_REJECTED' ? '' : ' (the device is not on the log)'}; no conversation is made with it`
      : 'the conversation was made with the ghost in it',
  };
}

/** A7: the log operator signs a fork — the same size, another root — and shows it to one party. */
export async function a7(s: ClientScene): Promise<Outcome> {
  const w = s.w;
  const logKey = parseSignerKey(readFileSync(w.path('log', 'log.key'), 'utf8').trim());
  const policy = logPolicyOf(w.anchors);
  const monitor = new Monitor({
    policy,
    url: w.anchors.log.url,
    fetch: (u) => fetch(u),
    store: new MemoryMonitorStore(),
    entries: false,
  });
  const first = await monitor.update();
  if (first.kind !== 'ok') throw new Error(`the monitor could not follow the live log: ${first.kind}`);
  const honest = await monitor.latest();
  const fork = signCheckpoint(
    { origin: honest!.origin, size: honest!.size, rootHash: randomBytes(32), extensions: [] },
    logKey,
  );
  // The party shown the fork (a monitor, as every client's log reader is) checks it against the witness quorum.
  const seen = await monitor.observe(fork, 'peer');
  const err = seen.kind === 'invalid_checkpoint' ? refusalOf(seen.error) : undefined;
  // Anyone holding both notes can prove the fork without asking anyone: the evidence verifies on its own.
  const evidence = verifySplitViewEvidence(
    { smaller: formatCheckpoint(honest!), larger: fork },
    honest!.origin,
    policy.logKeys,
  );
  return {
    outcome: err?.check !== undefined ? 'blocked' : 'not-stopped',
    attempt:
      'the log operator signs a second history (same size, another root) with the log key and shows it to one party',
    seen: err
      ? `no witness cosigns a fork, so the party refuses it: ${shown(err)}; the two log-signed notes are self-verifying split-view evidence (${evidence}, MON-5)`
      : `the fork was accepted (${seen.kind})`,
  };
}

/** A12: trudy reports mallory's message with the words changed. */
export async function a12(s: ClientScene): Promise<Outcome> {
  await s.ready();
  const sent = await s.mallory.client.sendText(s.conversation, 'see you at the station at six');
  await s.trudy.client.sync();
  const kept = await s.trudy.store.get(reportableKey(sent.messageId));
  if (kept === undefined) throw new Error('no report kept for the delivered message (no franking stamp?)');
  const honest = decodeReport(kept);
  const forged = encodeReport({ ...honest, plaintext: utf8Encode('send me the passwords or else') });
  const r = await refused(s.trudy.client.transport.request('POST', '/v1/reports', forged));
  return {
    outcome: r?.check !== undefined ? 'blocked' : 'not-stopped',
    attempt: 'a recipient files an abuse report of a real message with its words changed',
    seen: r
      ? `the relay refuses the report: ${shown(r)} (the franking proof fails); nothing stored`
      : 'the report was stored',
  };
}

/** A14: the org admin mints an epoch key it knows, signed by itself in the trustees' places. */
export async function a14(s: ClientScene): Promise<Outcome> {
  const w = s.w;
  const x = randomNonZeroScalar();
  const groupKey = group.baseMul(x);
  const slope = group.baseMul(randomNonZeroScalar());
  const n = w.policy.policy.trustees.length;
  const verificationKeys = Array.from({ length: n }, (_, i) =>
    group.add(groupKey, group.mul(scalarFromInt(i + 1), slope)),
  );
  const epoch = calendarMonthEpoch(Date.now()) + 5;
  const statement = signEpochKeyStatement(
    {
      orgId: w.org.orgId,
      epoch,
      policyHash: w.policy.hash,
      threshold: w.policy.policy.threshold,
      groupKey,
      verificationKeys,
      transcriptHash: randomBytes(32),
      sessionId: randomBytes(32),
      time: Date.now(),
    },
    Array.from({ length: w.policy.policy.threshold }, (_, i) => ({ index: i + 1, key: w.admin.keyPair })),
  );
  const admin = new RelayTransport({ url: w.url, key: w.admin.keyPair, signer: { kind: 'admin' } });
  const r = await refused(admin.request('POST', '/v1/admin/epoch-keys', { statement: toBase64(statement) }));
  const served = await refused(admin.epochKey(epoch));
  return {
    outcome: r?.check !== undefined && served !== undefined ? 'blocked' : 'not-stopped',
    attempt: `the org admin mints a key for epoch ${epoch} it knows, signed with its own key in the trustees' places`,
    seen: r
      ? `the relay refuses it: ${shown(r)} (k trustee signatures over the key and its transcript needed); no key published for the epoch`
      : 'the relay published it',
  };
}

/** A15: mallory uploads an envelope that says trudy sent it. */
export async function a15(s: ClientScene): Promise<Outcome> {
  await s.ready();
  const r = await refused(
    s.sendForged((sealed) => ({ envelope: sealed.envelope }), {
      senderUserId: s.trudy.userId,
      senderDeviceId: s.trudy.deviceId,
    }),
  );
  return {
    outcome: r?.check !== undefined ? 'blocked' : 'not-stopped',
    attempt: 'a malicious client uploads an envelope attributed to another member of the conversation',
    seen: r
      ? `the relay refuses it at ingest: ${shown(r)} (the sender signs label and capsule with its own device key)`
      : 'the relay stored it',
  };
}

/**
 * A16: a relay freezes one client's view on the checkpoint it served when the attacks began. The client is set to
 * refuse views older than 20 s (the default is 300 s) so the demo need not wait five minutes.
 */
export async function a16(s: ClientScene): Promise<Outcome> {
  await s.ready();
  const w = s.w;
  const maxAge = 20;
  const frozen = w.firstCheckpoint;
  // Wait until the frozen view is older than the maximum age: its age is at least the time since it was fetched
  // (the attacks before this one usually took longer already).
  await sleep(Math.max(0, w.startedAt + (maxAge + 1) * 1000 - Date.now()));
  const victim = await w
    .openClient(s.trudy.userId, `${s.trudy.deviceId}`, s.trudy.key, {
      maxLogAgeSeconds: maxAge,
      fetch: async (url: string, init: RequestInit) =>
        url.endsWith('/log/checkpoint') ? new Response(frozen) : fetch(url, init),
    } as never)
    .catch((e: unknown) => e);
  const r = victim instanceof Error ? refusalOf(victim) : await refused((victim as OvertClient).monitorLog());
  return {
    outcome: r?.check === 'KT-FRESH-1' ? 'blocked' : 'not-stopped',
    attempt: `a relay serves one client only the checkpoint from when the attacks began (validly cosigned, now over ${maxAge} s old)`,
    seen: r
      ? `the client refuses to act on the stale view: ${shown(r)} (witness timestamps older than its maximum age)`
      : 'the client sent on the stale view',
  };
}
