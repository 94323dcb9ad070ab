/**
 * A real relay for trustee tests: the log's sequencer (SQLite) with two in-process witness daemons (quorum 2), the
 * relay (@overt/server createRelay) serving the log's tiles under /log/, and the relay service through which the
 * test's org admin logs policies. Everything real, on free ports, stopped by `close()`.
 *
 * (A test may import the server: the layering rule is on sources, and the trustee never does.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type Policy, type SigningKeyPair, signPolicy, toBase64 } from '@overt/core';
import {
  formatVerifierKey,
  generateSignerKey,
  parseVerifierKey,
  SIGNATURE_TYPE_ED25519,
  verifierKeyOf,
} from '@overt/log';
import { createLogHandler, openSqliteStorage, Sequencer } from '@overt/log/service';
import { createRelay, RelayService } from '@overt/server';
import { type RunningWitness, startWitnessDaemon, submitToWitness } from '@overt/witness';
import type { TrustAnchors } from '../src/monitor.js';

export const ORG = 'overt.test';

export interface RelayFixture {
  readonly url: string;
  readonly anchors: TrustAnchors;
  readonly admin: SigningKeyPair;
  readonly service: RelayService;
  readonly witnessVkeys: readonly string[];
  policyFor(
    trustees: readonly { signingKey: string; hpkeKey: string }[],
    threshold: number,
    serial: number,
  ): Policy;
  publishPolicy(p: Policy): Promise<void>;
  close(): Promise<void>;
}

export async function startRelayFixture(): Promise<RelayFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'overt-relay-fixture-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  };
  try {
    const origin = `${ORG}/log`;
    const logKey = generateSignerKey(origin, SIGNATURE_TYPE_ED25519);
    const logVkey = formatVerifierKey(verifierKeyOf(logKey));
    const witnesses: RunningWitness[] = [];
    for (const i of [1, 2]) {
      const w = await startWitnessDaemon({
        dataDir: join(dir, `witness-${i}`),
        name: `${ORG}/witness-${i}`,
        port: 0,
        host: '127.0.0.1',
        logs: [{ origin, keys: [parseVerifierKey(logVkey)] }],
      });
      witnesses.push(w);
      cleanups.push(() => w.close());
    }
    const storage = openSqliteStorage({ path: join(dir, 'log.sqlite') });
    cleanups.push(() => storage.close());
    const sequencer = await Sequencer.start({
      storage,
      origin,
      key: logKey,
      witnesses: witnesses.map((w) => {
        const key = parseVerifierKey(w.vkey);
        return {
          key,
          addCheckpoint: (note, oldSize, prove, signal) =>
            submitToWitness(w.url, note, oldSize, prove, { witnessKey: key, signal }),
        };
      }),
      witnessQuorum: 2,
      heartbeatMs: 1_000,
    });
    cleanups.push(() => sequencer.close());
    const admin = generateSigningKey();
    const relay = await createRelay({
      dataDir: join(dir, 'relay'),
      host: '127.0.0.1',
      port: 0,
      orgId: ORG,
      adminPublicKey: admin.publicKey,
      frankingKey: generateSigningKey(),
      log: sequencer,
      logHandler: createLogHandler({ storage, prefix: '/log/' }),
    });
    cleanups.push(async () => {
      relay.app.server.closeAllConnections();
      await relay.stop();
    });
    const service = new RelayService({
      storage: relay.storage,
      log: sequencer,
      hub: relay.hub,
      orgId: ORG,
      now: Date.now,
    });
    const url = await relay.start();
    const witnessVkeys = witnesses.map((w) => w.vkey);
    return {
      url,
      admin,
      service,
      witnessVkeys,
      anchors: { origin, logVkey, witnessVkeys, witnessQuorum: 2, adminKey: toBase64(admin.publicKey) },
      policyFor(trustees, threshold, serial) {
        return {
          version: 1,
          orgId: ORG,
          serial,
          issuedAt: Date.now(),
          trustees: trustees.map((t, i) => ({
            index: i + 1,
            name: `trustee ${i + 1}`,
            signingKey: Buffer.from(t.signingKey, 'base64'),
            encryptionKey: Buffer.from(t.hpkeKey, 'base64'),
          })),
          threshold,
          witnesses: witnessVkeys
            .map((v) => parseVerifierKey(v))
            .map((k) => ({ name: k.name, signingKey: k.publicKey }))
            .sort((a, b) => (a.name < b.name ? -1 : 1)),
          witnessQuorum: 2,
          requesters: [
            {
              id: 'r',
              name: 'requester',
              signingKey: generateSigningKey().publicKey,
              encryptionKey: new Uint8Array(32).fill(9),
            },
          ],
          limits: {
            maxSubjects: 10,
            maxWindowMs: 1e9,
            maxEnvelopes: 1000,
            maxSealMs: 1e10,
            maxExtensions: 2,
          },
          epochLength: { kind: 'calendar-month' },
          retentionMs: 1e10,
        };
      },
      async publishPolicy(p) {
        await service.publishPolicy(signPolicy(p, admin));
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
