/**
 * MLS benchmark: application-message encryption and decryption per second (81-byte key-transport payloads), and
 * the time of one commit adding 49 devices to a group of one, for
 *   - `ts_mls_default`: ts-mls 1.6.4 alone with its default crypto provider (the baseline; DESIGN §9 measured
 *     ~650 encrypt/s, ~1,100 decrypt/s, 133 ms on the team machine);
 *   - `ts_mls_overt_crypto`: ts-mls alone with Overt's ciphersuite implementation (ciphersuite.ts);
 *   - `overt`: Overt's Conversation wrapper (checks, typed errors, pending commits, encoding).
 * The three are measured in interleaved rounds and reported as medians, with ratios to the baseline, so that the
 * ratios hold on a shared, noisy machine. Usage: npx tsx bench/mls/run.ts [--quick]  → JSON on stdout.
 */
import { cpus } from 'node:os';
import { generateSigningKey, randomBytes } from '@overt/core';
import {
  type CiphersuiteImpl,
  type ClientState,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  joinGroup,
  type KeyPackage,
  processPrivateMessage,
  generateKeyPackage as tsGenerateKeyPackage,
} from 'ts-mls';
import {
  Conversation,
  createMlsIdentity,
  encodeKeyTransport,
  generateKeyPackage,
  type KeyTransportPayload,
} from '../../packages/client/src/index.js';
import { mlsCiphersuite, tsMlsCiphersuite } from '../../packages/client/src/mls/ciphersuite.js';

const quick = process.argv.includes('--quick');
const PHONE = new TextEncoder().encode('phone');
const ROUNDS = quick ? 2 : 5;
const MESSAGES = quick ? 100 : 300;
const COMMIT_REPEATS = quick ? 1 : 2;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function payload(): KeyTransportPayload {
  return { messageId: randomBytes(16), contentKey: randomBytes(32), seed: randomBytes(32) };
}

interface Subject {
  encrypt(n: number): Promise<{ perSecond: number; messages: Uint8Array[] }>;
  decrypt(messages: Uint8Array[]): Promise<number>;
  commit49(): Promise<number>;
}

/** ts-mls alone: a two-member group and a lone creator with 49 key packages, all through ts-mls's API. */
async function rawSubject(cs: CiphersuiteImpl): Promise<Subject> {
  const kp = (name: string) =>
    tsGenerateKeyPackage(
      { credentialType: 'basic', identity: new TextEncoder().encode(name) },
      defaultCapabilities(),
      defaultLifetime,
      [],
      cs,
    );
  const a = await kp('a');
  const b = await kp('b');
  let alice: ClientState = await createGroup(randomBytes(32), a.publicPackage, a.privatePackage, [], cs);
  const add = await createCommit(
    { state: alice, cipherSuite: cs },
    {
      extraProposals: [{ proposalType: 'add', add: { keyPackage: b.publicPackage } }],
      ratchetTreeExtension: true,
    },
  );
  alice = add.newState;
  let bob = await joinGroup(add.welcome!, b.publicPackage, b.privatePackage, emptyPskIndex, cs);
  const lone = await kp('lone');
  const creator = await createGroup(randomBytes(32), lone.publicPackage, lone.privatePackage, [], cs);
  const joiners: KeyPackage[] = [];
  for (let i = 0; i < 49; i++) joiners.push((await kp(`j${i}`)).publicPackage);
  return {
    async encrypt(n) {
      const messages: Uint8Array[] = [];
      const t = performance.now();
      for (let i = 0; i < n; i++) {
        const r = await createApplicationMessage(alice, encodeKeyTransport(payload()), cs);
        alice = r.newState;
        messages.push(
          encodeMlsMessage({
            version: 'mls10',
            wireformat: 'mls_private_message',
            privateMessage: r.privateMessage,
          }),
        );
      }
      return { perSecond: n / ((performance.now() - t) / 1000), messages };
    },
    async decrypt(messages) {
      const t = performance.now();
      for (const m of messages) {
        const d = decodeMlsMessage(m, 0)![0];
        if (d.wireformat !== 'mls_private_message') throw new Error('unexpected');
        const r = await processPrivateMessage(bob, d.privateMessage, emptyPskIndex, cs);
        if (r.kind !== 'applicationMessage') throw new Error('unexpected');
        bob = r.newState;
      }
      return messages.length / ((performance.now() - t) / 1000);
    },
    async commit49() {
      const t = performance.now();
      const r = await createCommit(
        { state: creator, cipherSuite: cs },
        {
          extraProposals: joiners.map((keyPackage) => ({
            proposalType: 'add' as const,
            add: { keyPackage },
          })),
          ratchetTreeExtension: true,
        },
      );
      encodeMlsMessage(r.commit);
      encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: r.welcome! });
      return performance.now() - t;
    },
  };
}

/** Overt's wrapper: the same workloads through Conversation. */
async function overtSubject(): Promise<Subject> {
  const opts = { authenticate: () => true };
  const alice = await Conversation.create(createMlsIdentity('alice', PHONE, generateSigningKey()), opts);
  const bobId = createMlsIdentity('bob', PHONE, generateSigningKey());
  const bobKp = await generateKeyPackage(bobId);
  const out = await alice.addMembers([bobKp.keyPackage]);
  await alice.mergePendingCommit();
  const bob = (await Conversation.join(bobId, out.welcome!, [bobKp], opts)).conversation;
  const creator = await Conversation.create(createMlsIdentity('lone', PHONE, generateSigningKey()), opts);
  const joiners: Uint8Array[] = [];
  for (let i = 0; i < 49; i++)
    joiners.push(
      (await generateKeyPackage(createMlsIdentity(`j${i}`, PHONE, generateSigningKey()))).keyPackage,
    );
  return {
    async encrypt(n) {
      const messages: Uint8Array[] = [];
      const t = performance.now();
      for (let i = 0; i < n; i++) messages.push(await alice.encrypt(payload()));
      return { perSecond: n / ((performance.now() - t) / 1000), messages };
    },
    async decrypt(messages) {
      const t = performance.now();
      for (const m of messages) {
        const r = await bob.processIncoming(m);
        if (r.kind !== 'application') throw new Error('unexpected');
      }
      return messages.length / ((performance.now() - t) / 1000);
    },
    async commit49() {
      const t = performance.now();
      await creator.addMembers(joiners);
      const ms = performance.now() - t;
      await creator.discardPendingCommit();
      return ms;
    },
  };
}

const subjects: Record<string, Subject> = {
  ts_mls_default: await rawSubject(await tsMlsCiphersuite()),
  ts_mls_overt_crypto: await rawSubject(await mlsCiphersuite()),
  overt: await overtSubject(),
};
const names = Object.keys(subjects);
const samples: Record<string, { encrypt: number[]; decrypt: number[]; commit: number[] }> = {};
for (const n of names) samples[n] = { encrypt: [], decrypt: [], commit: [] };

// Warm-up (JIT, lazy module loads), not recorded.
for (const n of names) {
  const s = subjects[n]!;
  await s.decrypt((await s.encrypt(20)).messages);
  await s.commit49();
}
for (let round = 0; round < ROUNDS; round++) {
  for (const n of names) {
    const s = subjects[n]!;
    const e = await s.encrypt(MESSAGES);
    samples[n]!.encrypt.push(e.perSecond);
    samples[n]!.decrypt.push(await s.decrypt(e.messages));
    for (let i = 0; i < COMMIT_REPEATS; i++) samples[n]!.commit.push(await s.commit49());
  }
}

const results: Record<string, { encrypt_per_s: number; decrypt_per_s: number; commit_add_49_ms: number }> =
  {};
for (const n of names) {
  results[n] = {
    encrypt_per_s: Math.round(median(samples[n]!.encrypt)),
    decrypt_per_s: Math.round(median(samples[n]!.decrypt)),
    commit_add_49_ms: Math.round(median(samples[n]!.commit) * 10) / 10,
  };
}
const base = results.ts_mls_default!;
const ratio = (x: number, y: number) => Math.round((x / y) * 100) / 100;
const ratios: Record<string, Record<string, number>> = {};
for (const n of names) {
  const r = results[n]!;
  ratios[n] = {
    // Throughput ratios: above 1 is faster than the baseline. Time ratio: below 1 is faster.
    encrypt_vs_baseline: ratio(r.encrypt_per_s, base.encrypt_per_s),
    decrypt_vs_baseline: ratio(r.decrypt_per_s, base.decrypt_per_s),
    commit_time_vs_baseline: ratio(r.commit_add_49_ms, base.commit_add_49_ms),
  };
}
const same = results.ts_mls_overt_crypto!;
const wrapper = results.overt!;

console.log(
  JSON.stringify(
    {
      benchmark: 'mls',
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      rounds: ROUNDS,
      messages_per_round: MESSAGES,
      payload_bytes: 81,
      baseline: 'ts_mls_default',
      results,
      // Every round's figure (the medians above are taken over these): the spread, for bench/suite.
      samples,
      ratios,
      wrapper_overhead: {
        // The wrapper alone, with the crypto provider held equal.
        encrypt: ratio(wrapper.encrypt_per_s, same.encrypt_per_s),
        decrypt: ratio(wrapper.decrypt_per_s, same.decrypt_per_s),
        commit_time: ratio(wrapper.commit_add_49_ms, same.commit_add_49_ms),
      },
      design_reference_ts_mls: { encrypt_per_s: 650, decrypt_per_s: 1100, commit_add_49_ms: 133 },
    },
    null,
    2,
  ),
);
