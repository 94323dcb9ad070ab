// C2SP tlog-witness "add-checkpoint" over real HTTP, against the public tessera test log: every status code the
// spec prescribes (200, 400, 403, 404, 409 with its text/x.tlog.size body, 422) plus ours (405, 413), each check
// ID, evidence of refused validly-signed checkpoints, and cosignatures checked with @overt/log's pure verifier.
import { toBase64, utf8Decode, utf8Encode } from '@overt/core';
import {
  addSignatures,
  formatNote,
  generateSignerKey,
  makeWitnessPolicy,
  parseNote,
  parseSignatureLine,
  parseVerifierKey,
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  verifierKeyOf,
  verifyCheckpoint,
  verifyCosignature,
} from '@overt/log';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
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
import { type RunningWitnessServer, serveWitness } from './http.js';
import { encodeAddCheckpointRequest, MAX_REQUEST_BYTES } from './request.js';
import { SqliteWitnessStore } from './store.js';
import { Witness, type WitnessEvent } from './witness.js';

const leaves = tesseraLeaves();
const witnessKey = generateSignerKey('witness.test/w1', SIGNATURE_TYPE_COSIGNATURE);
const NOW = 1_700_000_000;

interface Harness {
  witness: Witness;
  store: SqliteWitnessStore;
  server: RunningWitnessServer;
  events: WitnessEvent[];
  post(old: number, proof: Uint8Array[], note: Uint8Array | string): Promise<Response>;
}

const dirs = tempDirs();
const open: Harness[] = [];

async function harness(clock: () => number = () => NOW): Promise<Harness> {
  const store = SqliteWitnessStore.openDir(dirs.make());
  const events: WitnessEvent[] = [];
  const witness = new Witness({
    key: witnessKey,
    logs: [{ origin: TESSERA.origin, keys: [tesseraVerifier()] }],
    store,
    clock,
    onEvent: (e) => events.push(e),
  });
  const server = await serveWitness(witness);
  const h: Harness = {
    witness,
    store,
    server,
    events,
    post: (old, proof, note) =>
      fetch(`${server.url}/add-checkpoint`, {
        method: 'POST',
        body: new Uint8Array(
          encodeAddCheckpointRequest(old, proof, typeof note === 'string' ? utf8Encode(note) : note),
        ),
      }),
  };
  open.push(h);
  return h;
}

afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.server.close();
    h.store.close();
  }
});
afterAll(() => dirs.cleanup());

async function expectRefusal(res: Response, status: number, check: string): Promise<void> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  const body = (await res.json()) as { status: number; check?: string };
  expect(body.status).toBe(status);
  expect(body.check).toBe(check);
}

async function expectConflict(res: Response, knownSize: number): Promise<void> {
  expect(res.status).toBe(409);
  expect(res.headers.get('content-type')).toBe('text/x.tlog.size');
  expect(await res.text()).toBe(`${knownSize}\n`);
}

describeTessera('tlog-witness add-checkpoint', () => {
  let h: Harness;
  beforeAll(() => undefined);

  it('200: cosigns a first checkpoint from old 0 with an empty proof; the cosignature verifies', async () => {
    h = await harness();
    const note = tesseraCheckpoint(5);
    const res = await h.post(0, [], note);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^— witness\.test\/w1 [A-Za-z0-9+/=]+\n$/);
    // tlog-witness: "the client MAY concatenate it to the checkpoint, and use a note verification function".
    const cosigned = utf8Decode(note) + text;
    const policy = makeWitnessPolicy([verifierKeyOf(witnessKey)], 1);
    const v = verifyCheckpoint(cosigned, {
      origin: TESSERA.origin,
      logKeys: [tesseraVerifier()],
      witnesses: policy,
    });
    expect(v.size).toBe(5);
    expect(v.cosignatures).toHaveLength(1);
    expect(v.cosignatures[0]!.timestamp).toBe(NOW);
    expect(h.store.latest(TESSERA.origin)?.size).toBe(5);
    expect(h.store.latest(TESSERA.origin)?.note).toEqual(note);
    expect(h.events.at(-1)).toEqual({ status: 200, origin: TESSERA.origin, oldSize: 0, size: 5 });
  });

  it('200: advances with a valid consistency proof, step by step through all 15 published checkpoints', async () => {
    h = await harness();
    let old = 0;
    for (let size = 0; size <= 15; size++) {
      const res = await h.post(old, await proofFor(leaves, old, size), tesseraCheckpoint(size));
      expect(res.status, `size ${size}`).toBe(200);
      const sig = parseSignatureLine((await res.text()).slice(0, -1));
      const cpText = parseNote(tesseraCheckpoint(size)).text;
      expect(verifyCosignature(verifierKeyOf(witnessKey), cpText, sig)).toBe(NOW);
      old = size;
    }
    // Re-submitting the latest checkpoint (old = size, same root, empty proof) is cosigned again.
    expect((await h.post(15, [], tesseraCheckpoint(15))).status).toBe(200);
  });

  it('200: a heartbeat — the same checkpoint again (old = size, empty proof) — gets a fresh cosignature at the current time', async () => {
    let now = NOW;
    h = await harness(() => now);
    const policy = makeWitnessPolicy([verifierKeyOf(witnessKey)], 1);
    const log = { origin: TESSERA.origin, logKeys: [tesseraVerifier()], witnesses: policy };
    const cosignedAt = async (res: Response) => {
      expect(res.status).toBe(200);
      const v = verifyCheckpoint(utf8Decode(tesseraCheckpoint(7)) + (await res.text()), log);
      return v.cosignatures[0]!.timestamp;
    };
    expect(await cosignedAt(await h.post(0, [], tesseraCheckpoint(7)))).toBe(NOW);
    now = NOW + 30;
    // C2SP tlog-cosignature: the timestamp is the witness's time of cosigning, so the same tree head gets a
    // newer one — what lets a verifier tell how old its view is (DESIGN A16).
    expect(await cosignedAt(await h.post(7, [], tesseraCheckpoint(7)))).toBe(NOW + 30);
    expect(h.store.latest(TESSERA.origin)).toMatchObject({ size: 7, cosignedAt: NOW + 30 });
    expect(h.events.at(-1)).toEqual({ status: 200, origin: TESSERA.origin, oldSize: 7, size: 7 });
    // Still exactly one tree head per size: a same-size checkpoint with another root is refused (WIT-9).
    const fork = signTree(
      tesseraKey(),
      TESSERA.origin,
      [...leaves.slice(0, 6), new Uint8Array(32).fill(0xee)],
      7,
    );
    await expectConflict(await h.post(7, [], fork), 7);
  });

  it('200: a large jump (1 → 15) with its proof', async () => {
    h = await harness();
    expect((await h.post(0, [], tesseraCheckpoint(1))).status).toBe(200);
    expect((await h.post(1, await proofFor(leaves, 1, 15), tesseraCheckpoint(15))).status).toBe(200);
  });

  it('200: ignores signatures of unknown keys next to the log signature', async () => {
    h = await harness();
    const stranger = generateSignerKey('someone.else/key', SIGNATURE_TYPE_ED25519);
    const note = parseNote(tesseraCheckpoint(3));
    const strangerSig = parseNote(signTree(stranger, TESSERA.origin, leaves, 3)).signatures[0]!;
    const both = formatNote(addSignatures(note, [strangerSig]));
    expect((await h.post(0, [], both)).status).toBe(200);
  });

  it('400 WIT-2: malformed framing', async () => {
    h = await harness();
    const res = await fetch(`${h.server.url}/add-checkpoint`, { method: 'POST', body: 'old 00\n\nx' });
    await expectRefusal(res, 400, 'WIT-2');
  });

  it('400 WIT-3: a checkpoint note that does not parse (bad UTF-8, size 0 with a non-empty root, no signature)', async () => {
    h = await harness();
    const notUtf8 = new Uint8Array([...tesseraCheckpoint(3)]);
    notUtf8[2] = 0xff;
    await expectRefusal(await h.post(0, [], notUtf8), 400, 'WIT-3');
    const key = tesseraKey();
    const text = `${TESSERA.origin}\n0\n${toBase64(new Uint8Array(32))}\n`;
    const sig = parseNote(signTree(key, TESSERA.origin, leaves, 1)).signatures[0]!;
    await expectRefusal(await h.post(0, [], formatNote({ text, signatures: [sig] })), 400, 'WIT-3');
    await expectRefusal(
      await h.post(0, [], `${TESSERA.origin}\n1\n${toBase64(leaves[0]!)}\n\n`),
      400,
      'WIT-3',
    );
  });

  it('404 WIT-4: a log origin the witness does not follow', async () => {
    h = await harness();
    const other = generateSignerKey('other.example/log', SIGNATURE_TYPE_ED25519);
    await expectRefusal(await h.post(0, [], signTree(other, 'other.example/log', leaves, 2)), 404, 'WIT-4');
    expect(h.events.at(-1)).toMatchObject({ status: 404, code: 'WITNESS_UNKNOWN_LOG', check: 'WIT-4' });
  });

  it('403 WIT-5: signed by another key under the log name, or a bad signature by the log key', async () => {
    h = await harness();
    const impostor = generateSignerKey(TESSERA.origin, SIGNATURE_TYPE_ED25519);
    await expectRefusal(await h.post(0, [], signTree(impostor, TESSERA.origin, leaves, 4)), 403, 'WIT-5');
    const note = parseNote(tesseraCheckpoint(4));
    const sig = note.signatures[0]!;
    const flipped = sig.signature.slice();
    flipped[0]! ^= 1;
    const tampered = formatNote({ text: note.text, signatures: [{ ...sig, signature: flipped }] });
    await expectRefusal(await h.post(0, [], tampered), 403, 'WIT-5');
    // A checkpoint text changed after signing: same signature, other text.
    const forged = formatNote({ text: note.text.replace('\n4\n', '\n5\n'), signatures: [sig] });
    await expectRefusal(await h.post(0, [], forged), 403, 'WIT-5');
    expect(h.store.latest(TESSERA.origin)).toBeUndefined();
  });

  it('400 WIT-6: old size larger than the checkpoint size', async () => {
    h = await harness();
    await expectRefusal(await h.post(6, [], tesseraCheckpoint(5)), 400, 'WIT-6');
  });

  it('409 WIT-7: old size is not the latest cosigned size; the body is that size as text/x.tlog.size', async () => {
    h = await harness();
    expect((await h.post(0, [], tesseraCheckpoint(5))).status).toBe(200);
    await expectConflict(await h.post(3, await proofFor(leaves, 3, 8), tesseraCheckpoint(8)), 5);
    await expectConflict(await h.post(0, [], tesseraCheckpoint(8)), 5);
    await expectConflict(await h.post(7, await proofFor(leaves, 7, 8), tesseraCheckpoint(8)), 5);
    // A fresh witness has size 0: any other old size conflicts with "0".
    const fresh = await harness();
    await expectConflict(await fresh.post(5, await proofFor(leaves, 5, 8), tesseraCheckpoint(8)), 0);
  });

  it('422 WIT-8: a consistency proof that does not verify, or a non-empty proof from 0 or to the same size', async () => {
    h = await harness();
    expect((await h.post(0, [], tesseraCheckpoint(5))).status).toBe(200);
    const proof = await proofFor(leaves, 5, 9);
    const bad = proof.map((p) => p.slice());
    bad[1]![7]! ^= 0x40;
    await expectRefusal(await h.post(5, bad, tesseraCheckpoint(9)), 422, 'WIT-8');
    await expectRefusal(await h.post(5, proof.slice(0, -1), tesseraCheckpoint(9)), 422, 'WIT-8');
    await expectRefusal(await h.post(5, [...proof, proof[0]!], tesseraCheckpoint(9)), 422, 'WIT-8');
    await expectRefusal(await h.post(5, await proofFor(leaves, 5, 10), tesseraCheckpoint(9)), 422, 'WIT-8');
    await expectRefusal(await h.post(5, [leaves[0]!], tesseraCheckpoint(5)), 422, 'WIT-8');
    const fresh = await harness();
    await expectRefusal(await fresh.post(0, [leaves[0]!], tesseraCheckpoint(5)), 422, 'WIT-8');
    // State unchanged; the validly signed refused requests are kept as evidence.
    expect(h.store.latest(TESSERA.origin)?.size).toBe(5);
    expect(h.store.evidence(TESSERA.origin).map((e) => e.check)).toEqual([
      'WIT-8',
      'WIT-8',
      'WIT-8',
      'WIT-8',
      'WIT-8',
    ]);
    // The proof is the right one once the state is right.
    expect((await h.post(5, proof, tesseraCheckpoint(9))).status).toBe(200);
  });

  it('409 WIT-9: same size as the cosigned checkpoint with another root (a fork); kept as evidence', async () => {
    h = await harness();
    expect((await h.post(0, [], tesseraCheckpoint(6))).status).toBe(200);
    const forkLeaves = [...leaves.slice(0, 5), new Uint8Array(32).fill(0xee)];
    const fork = signTree(tesseraKey(), TESSERA.origin, forkLeaves, 6);
    await expectConflict(await h.post(6, [], fork), 6);
    const evidence = h.store.evidence(TESSERA.origin);
    expect(evidence).toHaveLength(1);
    expect(evidence[0]!.check).toBe('WIT-9');
    expect(evidence[0]!.request).toEqual(encodeAddCheckpointRequest(6, [], fork));
    expect(h.events.at(-1)).toMatchObject({ status: 409, code: 'WITNESS_ROOT_MISMATCH', check: 'WIT-9' });
  });

  it('404 for other paths, 405 for other methods, 413 over the size limit (WIT-1)', async () => {
    h = await harness();
    expect((await fetch(`${h.server.url}/checkpoint`)).status).toBe(404);
    expect((await fetch(`${h.server.url}/add-checkpoint`)).status).toBe(405);
    const big = new Uint8Array(MAX_REQUEST_BYTES + 10).fill(0x41);
    await expectRefusal(
      await fetch(`${h.server.url}/add-checkpoint`, { method: 'POST', body: big }),
      413,
      'WIT-1',
    );
  });

  it('serves under a submission prefix', async () => {
    const store = SqliteWitnessStore.openDir(dirs.make());
    const witness = new Witness({
      key: witnessKey,
      logs: [{ origin: TESSERA.origin, keys: [tesseraVerifier()] }],
      store,
    });
    const server = await serveWitness(witness, { prefix: '/w/v1' });
    try {
      expect(server.url.endsWith('/w/v1')).toBe(true);
      const body = new Uint8Array(encodeAddCheckpointRequest(0, [], tesseraCheckpoint(2)));
      expect((await fetch(`${server.url}/add-checkpoint`, { method: 'POST', body })).status).toBe(200);
      expect(
        (await fetch(`${server.url.replace('/w/v1', '')}/add-checkpoint`, { method: 'POST', body })).status,
      ).toBe(404);
    } finally {
      await server.close();
      store.close();
    }
  });

  it('refuses a misconfiguration: a witness key of type 0x01, a log key of type 0x04', () => {
    const store = new SqliteWitnessStore(':memory:');
    const logKey = tesseraVerifier();
    expect(() => new Witness({ key: tesseraKey(), logs: [], store })).toThrow(/type 0x04/);
    expect(
      () =>
        new Witness({ key: witnessKey, logs: [{ origin: 'x', keys: [verifierKeyOf(witnessKey)] }], store }),
    ).toThrow(/type 0x01/);
    expect(
      new Witness({ key: witnessKey, logs: [{ origin: TESSERA.origin, keys: [logKey] }], store }).vkey,
    ).toMatch(/^witness\.test\/w1\+[0-9a-f]{8}\+/);
    expect(parseVerifierKey(new Witness({ key: witnessKey, logs: [], store }).vkey).type).toBe(0x04);
    store.close();
  });
});
