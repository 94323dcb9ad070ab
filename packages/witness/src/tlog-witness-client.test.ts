// The log's client for C2SP tlog-witness: submission, the single retry on 409 from the witness's size, the
// refusals mapped back to codes, and cosignatures verified and filtered by the witness key.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { utf8Decode } from '@overt/core';
import {
  formatVerifierKey,
  generateSignerKey,
  makeWitnessPolicy,
  SIGNATURE_TYPE_COSIGNATURE,
  verifierKeyOf,
  verifyCheckpoint,
} from '@overt/log';
import { afterAll, afterEach, expect, it } from 'vitest';
import {
  describeTessera,
  proofFor,
  signTree,
  TESSERA,
  tempDirs,
  tesseraCheckpoint,
  tesseraKey,
  tesseraLeaves,
  tesseraVerifier,
} from '../test/fixtures.js';
import { submitToWitness } from './client.js';
import { type RunningWitness, startWitnessDaemon } from './daemon.js';
import { WitnessError } from './errors.js';

const leaves = tesseraLeaves();
const logs = [{ origin: TESSERA.origin, keys: [tesseraVerifier()] }];
const dirs = tempDirs();
const running: RunningWitness[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const w of running.splice(0)) await w.close();
  for (const s of servers.splice(0)) s.close();
});
afterAll(() => dirs.cleanup());

async function witness(): Promise<RunningWitness> {
  const w = await startWitnessDaemon({ dataDir: dirs.make(), name: 'witness.test/client', logs });
  running.push(w);
  return w;
}

/** A consistency prover over the tessera leaves, recording which old sizes it was asked for. */
function prover(size: number): { asked: number[]; prove: (old: number) => Promise<Uint8Array[]> } {
  const asked: number[] = [];
  return {
    asked,
    prove: (old) => {
      asked.push(old);
      return proofFor(leaves, old, size);
    },
  };
}

/** A server answering every request with a fixed response (a broken or hostile witness). */
async function fixedServer(status: number, type: string, body: string): Promise<string> {
  const s = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    });
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describeTessera('submitToWitness', () => {
  it('gets a cosignature that completes a quorum-1 checkpoint', async () => {
    const w = await witness();
    const p = prover(5);
    const r = await submitToWitness(w.url, tesseraCheckpoint(5), 0, p.prove, { witnessKey: w.vkey });
    expect(r.oldSize).toBe(0);
    expect(p.asked).toEqual([0]);
    const policy = makeWitnessPolicy([w.vkey], 1);
    const cosigned = utf8Decode(tesseraCheckpoint(5)) + r.lines;
    expect(
      verifyCheckpoint(cosigned, { origin: TESSERA.origin, logKeys: [tesseraVerifier()], witnesses: policy })
        .size,
    ).toBe(5);
  });

  it('on 409 retries once from the size the witness reports (log restarted and forgot the witness state)', async () => {
    const w = await witness();
    await submitToWitness(w.url, tesseraCheckpoint(7), 0, prover(7).prove);
    const p = prover(12);
    const r = await submitToWitness(w.url, tesseraCheckpoint(12), 0, p.prove, { witnessKey: w.vkey });
    expect(p.asked).toEqual([0, 7]);
    expect(r.oldSize).toBe(7);
    expect(r.cosignatures).toHaveLength(1);
  });

  it('does not retry a fork (409 at its own size) and reports WITNESS_CONFLICT', async () => {
    const w = await witness();
    await submitToWitness(w.url, tesseraCheckpoint(6), 0, prover(6).prove);
    const fork = signTree(tesseraKey(), TESSERA.origin, [...leaves.slice(0, 5), new Uint8Array(32)], 6);
    const asked: number[] = [];
    const err = await submitToWitness(w.url, fork, 6, (old) => {
      asked.push(old);
      return [];
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WITNESS_CONFLICT', knownSize: 6 });
    expect(asked).toEqual([6]);
  });

  it('does not retry when the witness has seen more of the log than the checkpoint', async () => {
    const w = await witness();
    await submitToWitness(w.url, tesseraCheckpoint(10), 0, prover(10).prove);
    const p = prover(8);
    await expect(submitToWitness(w.url, tesseraCheckpoint(8), 0, p.prove)).rejects.toMatchObject({
      code: 'WITNESS_CONFLICT',
      knownSize: 10,
    });
    expect(p.asked).toEqual([0]);
  });

  it('maps refusals to codes: bad proof 422, unknown log 404, bad signature 403', async () => {
    const w = await witness();
    await submitToWitness(w.url, tesseraCheckpoint(4), 0, prover(4).prove);
    await expect(
      submitToWitness(w.url, tesseraCheckpoint(9), 4, () => proofFor(leaves, 3, 9)),
    ).rejects.toMatchObject({ code: 'WITNESS_BAD_PROOF' });
    const other = generateSignerKey('other.example/log');
    await expect(
      submitToWitness(w.url, signTree(other, 'other.example/log', leaves, 2), 0, () => []),
    ).rejects.toMatchObject({ code: 'WITNESS_UNKNOWN_LOG' });
    const impostor = generateSignerKey(TESSERA.origin);
    await expect(
      submitToWitness(w.url, signTree(impostor, TESSERA.origin, leaves, 9), 4, () => proofFor(leaves, 4, 9)),
    ).rejects.toMatchObject({ code: 'WITNESS_BAD_SIGNATURE' });
  });

  it('checks cosignatures against the witness key: another key is ignored (none left), a bad one refused', async () => {
    const w = await witness();
    const stranger = generateSignerKey('witness.test/client', SIGNATURE_TYPE_COSIGNATURE);
    await expect(
      submitToWitness(w.url, tesseraCheckpoint(3), 0, prover(3).prove, {
        witnessKey: verifierKeyOf(stranger),
      }),
    ).rejects.toMatchObject({ code: 'WITNESS_RESPONSE', check: 'WIT-12' });
    // A witness that answers with a line of the right key that does not verify (here: for another checkpoint).
    const good = await witness();
    const forOther = await submitToWitness(good.url, tesseraCheckpoint(2), 0, prover(2).prove);
    const liar = await fixedServer(200, 'text/plain', forOther.lines);
    await expect(
      submitToWitness(liar, tesseraCheckpoint(3), 0, prover(3).prove, { witnessKey: good.vkey }),
    ).rejects.toMatchObject({ code: 'WITNESS_RESPONSE', check: 'WIT-12' });
    expect(formatVerifierKey(verifierKeyOf(stranger))).not.toBe(good.vkey);
  });

  it('refuses answers outside the protocol, and an unreachable witness, as WITNESS_RESPONSE', async () => {
    for (const [status, type, body, check] of [
      [409, 'text/plain', '5\n', 'WIT-11'],
      [409, 'text/x.tlog.size', '05\n', 'WIT-11'],
      [409, 'text/x.tlog.size', '5', 'WIT-11'],
      [200, 'text/plain', 'not a signature line\n', 'WIT-12'],
      [200, 'text/plain', '', 'WIT-12'],
      [500, 'text/plain', 'boom', undefined],
    ] as const) {
      const url = await fixedServer(status, type, body);
      const err = await submitToWitness(url, tesseraCheckpoint(3), 0, prover(3).prove).catch(
        (e: unknown) => e,
      );
      expect(err, `${status} ${type} ${JSON.stringify(body)}`).toBeInstanceOf(WitnessError);
      expect((err as WitnessError).code).toBe('WITNESS_RESPONSE');
      expect((err as WitnessError).check).toBe(check);
    }
    const closed = await fixedServer(200, 'text/plain', '');
    servers.pop()!.close();
    await expect(submitToWitness(closed, tesseraCheckpoint(3), 0, () => [])).rejects.toMatchObject({
      code: 'WITNESS_RESPONSE',
    });
  });
});
