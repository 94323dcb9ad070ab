// C2SP tlog-cosignature (Ed25519, type 0x04) and tlog-checkpoint: the sigsum cosignature vector, checkpoint body
// rules, staged verification (Checkpoint → SignedCheckpoint → VerifiedCheckpoint) with a witness quorum, the
// consistency special cases, round trips and fuzz.
import { readFileSync } from 'node:fs';
import { fromBase64, fromHex, toBase64 } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sharedVectors } from '../../../test/shared-vectors.js';
import {
  checkConsistent,
  formatCheckpointBody,
  parseCheckpoint,
  parseCheckpointBody,
  signCheckpoint,
  verifyCheckpoint,
  verifyCheckpointSignature,
} from './checkpoint.js';
import {
  cosign,
  cosignatureSigner,
  cosignatureVerifier,
  cosignedMessage,
  decodeCosignatureValue,
  makeWitnessPolicy,
  verifyCosignature,
} from './cosignature.js';
import { LogError } from './errors.js';
import { EMPTY_ROOT, leafHash, merkleTreeHash } from './merkle.js';
import {
  addSignatures,
  formatNote,
  makeVerifierKey,
  openNote,
  parseNote,
  parseSignatureLine,
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  signerKeyFromSeed,
  verifierKeyOf,
} from './note.js';

// The public vectors live in shared/ beside the repository ($OVERT_VECTORS overrides); skipped loudly if absent.
const signedNote = sharedVectors('signed-note', 'vectors.json');
const vectors = signedNote.present
  ? JSON.parse(readFileSync(signedNote.path('vectors.json'), 'utf8'))
  : { cosignatures: [] };

function code(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    return e.code;
  }
}

const ORIGIN = 'log.example/overt';
const logKey = signerKeyFromSeed(ORIGIN, SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(7));
const w = [1, 2, 3].map((i) =>
  signerKeyFromSeed(`witness${i}.example`, SIGNATURE_TYPE_COSIGNATURE, new Uint8Array(32).fill(40 + i)),
);
const policy = (quorum: number) => ({
  origin: ORIGIN,
  logKeys: [verifierKeyOf(logKey)],
  witnesses: makeWitnessPolicy(w.map(verifierKeyOf), quorum),
});
const body = {
  origin: ORIGIN,
  size: 3,
  rootHash: merkleTreeHash([1, 2, 3].map((i) => new Uint8Array([i]))),
  extensions: [],
};

function cosigned(witnesses = w, t = 1700000000): string {
  const note = parseNote(signCheckpoint(body, logKey));
  return formatNote(
    addSignatures(
      note,
      witnesses.map((k) => cosign(note.text, k, t)),
    ),
  );
}

signedNote.describe('tlog-cosignature vector (sigsum-go)', () => {
  const c = vectors.cosignatures[0];
  // Built when a test runs: without the vectors the suite is collected only to be reported as skipped.
  let built: ReturnType<typeof makeVerifierKey> | undefined;
  const verifier = () =>
    (built ??= makeVerifierKey(c.cosigner_name, SIGNATURE_TYPE_COSIGNATURE, fromHex(c.ed25519_public_hex)));

  it('has the key ID and verifies the signature line at its timestamp', () => {
    expect(verifier().keyId.toString(16).padStart(8, '0')).toBe(c.key_id_hex);
    const sig = parseSignatureLine(`\u2014 ${c.cosigner_name} ${c.signature_line_base64}`);
    expect(sig.keyId).toBe(verifier().keyId);
    expect(verifyCosignature(verifier(), c.checkpoint_body, sig)).toBe(c.timestamp);
  });

  it('is reproduced byte for byte from the seed (Ed25519 is deterministic)', () => {
    const signer = signerKeyFromSeed(
      c.cosigner_name,
      SIGNATURE_TYPE_COSIGNATURE,
      fromHex(c.ed25519_seed_hex),
    );
    const sig = cosign(c.checkpoint_body, signer, c.timestamp);
    const raw = fromBase64(c.signature_line_base64);
    expect(sig.signature).toEqual(raw.slice(4));
    expect(toBase64(cosignedMessage(c.checkpoint_body, c.timestamp))).toBe(
      toBase64(new TextEncoder().encode(`cosignature/v1\ntime ${c.timestamp}\n${c.checkpoint_body}`)),
    );
  });

  it('fails for another body, another timestamp or a truncated value', () => {
    const sig = parseSignatureLine(`\u2014 ${c.cosigner_name} ${c.signature_line_base64}`);
    expect(code(() => verifyCosignature(verifier(), c.checkpoint_body.replace('10', '11'), sig))).toBe(
      'COSIG_BAD_SIGNATURE',
    );
    const later = sig.signature.slice();
    later[7]! ^= 1;
    expect(code(() => verifyCosignature(verifier(), c.checkpoint_body, { ...sig, signature: later }))).toBe(
      'COSIG_BAD_SIGNATURE',
    );
    expect(code(() => decodeCosignatureValue(sig.signature.slice(1)))).toBe('COSIG_MALFORMED');
    const huge = sig.signature.slice();
    huge[0] = 0x7f;
    expect(code(() => decodeCosignatureValue(huge))).toBe('COSIG_TIMESTAMP');
  });

  it('works as a generic note verifier and signer', () => {
    const signer = signerKeyFromSeed('w.example', SIGNATURE_TYPE_COSIGNATURE, new Uint8Array(32).fill(3));
    const note = parseNote(signCheckpoint(body, logKey));
    const line = cosignatureSigner(signer, () => 99).sign(new TextEncoder().encode(note.text));
    const withCosig = formatNote(
      addSignatures(note, [{ name: signer.name, keyId: signer.keyId, signature: line }]),
    );
    expect(openNote(withCosig, [cosignatureVerifier(verifierKeyOf(signer))]).verified).toHaveLength(1);
  });
});

describe('tlog-checkpoint body', () => {
  it('round-trips bodies with extension lines', () => {
    const b = { ...body, extensions: ['ext one', 'ext two'] };
    expect(parseCheckpointBody(formatCheckpointBody(b))).toEqual(b);
  });

  it.each([
    ['missing root', `${ORIGIN}\n3\n`],
    ['empty origin', `\n3\n${toBase64(EMPTY_ROOT)}\n`],
    ['leading zero size', `${ORIGIN}\n03\n${toBase64(EMPTY_ROOT)}\n`],
    ['signed size', `${ORIGIN}\n+3\n${toBase64(EMPTY_ROOT)}\n`],
    ['size above 2^53-1', `${ORIGIN}\n9007199254740992\n${toBase64(EMPTY_ROOT)}\n`],
    ['short root', `${ORIGIN}\n3\n${toBase64(new Uint8Array(31))}\n`],
    ['non-canonical base64', `${ORIGIN}\n3\n${toBase64(EMPTY_ROOT).replace('=', '')}\n`],
    ['empty extension line', `${ORIGIN}\n3\n${toBase64(EMPTY_ROOT)}\n\n`],
    ['no final newline', `${ORIGIN}\n3\n${toBase64(EMPTY_ROOT)}`],
    ['empty tree with a non-empty root', `${ORIGIN}\n0\n${toBase64(leafHash(new Uint8Array()))}\n`],
  ])('rejects %s', (_, text) => {
    expect(code(() => parseCheckpointBody(text))).toBe('CHECKPOINT_MALFORMED');
  });
});

describe('tlog-checkpoint verification with a witness quorum', () => {
  it('accepts a checkpoint cosigned by the quorum, in stages', () => {
    const signed = cosigned();
    const cp = parseCheckpoint(signed);
    const s = verifyCheckpointSignature(cp, ORIGIN, [verifierKeyOf(logKey)]);
    expect(s.logKey.name).toBe(ORIGIN);
    const v = verifyCheckpoint(signed, policy(3));
    expect(v.cosignatures.map((c) => c.key.name)).toEqual(w.map((k) => k.name));
    expect(v.cosignatures.every((c) => c.timestamp === 1700000000)).toBe(true);
    expect(v.size).toBe(3);
  });

  it('rejects too few witnesses, another origin, a missing log signature, a bad cosignature', () => {
    expect(code(() => verifyCheckpoint(cosigned(w.slice(0, 1)), policy(2)))).toBe('COSIG_QUORUM');
    expect(code(() => verifyCheckpoint(cosigned(), { ...policy(1), origin: 'other.example' }))).toBe(
      'CHECKPOINT_ORIGIN',
    );
    const other = signerKeyFromSeed(ORIGIN, SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(8));
    expect(code(() => verifyCheckpoint(signCheckpoint(body, other), policy(0)))).toBe('NOTE_UNVERIFIED');
    const note = parseNote(cosigned());
    const bad = formatNote({
      text: note.text,
      signatures: note.signatures.map((s, i) =>
        i === 2 ? { ...s, signature: s.signature.map((b, j) => (j === 70 ? b ^ 4 : b)) } : s,
      ),
    });
    expect(code(() => verifyCheckpoint(bad, policy(1)))).toBe('COSIG_BAD_SIGNATURE');
  });

  it('counts a witness once, ignores unknown cosigners, and refuses future timestamps when asked', () => {
    const note = parseNote(cosigned(w.slice(0, 1)));
    const dup = formatNote(addSignatures(note, [note.signatures[1]!]));
    expect(code(() => verifyCheckpoint(dup, policy(2)))).toBe('COSIG_QUORUM');
    const stranger = signerKeyFromSeed(
      'stranger.example',
      SIGNATURE_TYPE_COSIGNATURE,
      new Uint8Array(32).fill(99),
    );
    expect(verifyCheckpoint(cosigned([stranger, ...w]), policy(3)).cosignatures).toHaveLength(3);
    expect(
      code(() => verifyCheckpoint(cosigned(w, 2000), policy(1), { now: 1000, maxFutureSeconds: 60 })),
    ).toBe('COSIG_TIMESTAMP');
  });

  it('validates witness policies', () => {
    const keys = w.map(verifierKeyOf);
    expect(code(() => makeWitnessPolicy(keys, 4))).toBe('COSIG_POLICY');
    expect(code(() => makeWitnessPolicy([keys[0]!, keys[0]!], 1))).toBe('COSIG_POLICY');
    expect(code(() => makeWitnessPolicy([verifierKeyOf(logKey)], 1))).toBe('COSIG_POLICY');
    const sameKeyOtherName = makeVerifierKey('alias.example', SIGNATURE_TYPE_COSIGNATURE, keys[0]!.publicKey);
    expect(code(() => makeWitnessPolicy([keys[0]!, sameKeyOtherName], 2))).toBe('COSIG_POLICY');
  });

  it('checks consistency with the size-0 and equal-size special cases', () => {
    expect(code(() => checkConsistent(0, EMPTY_ROOT, 5, body.rootHash, []))).toBeUndefined();
    expect(code(() => checkConsistent(0, EMPTY_ROOT, 5, body.rootHash, [EMPTY_ROOT]))).toBe(
      'CHECKPOINT_INCONSISTENT',
    );
    expect(code(() => checkConsistent(0, EMPTY_ROOT, 0, EMPTY_ROOT, []))).toBeUndefined();
    expect(code(() => checkConsistent(3, body.rootHash, 3, body.rootHash, []))).toBeUndefined();
    expect(code(() => checkConsistent(3, body.rootHash, 3, EMPTY_ROOT, []))).toBe('CHECKPOINT_INCONSISTENT');
    expect(code(() => checkConsistent(4, body.rootHash, 3, body.rootHash, []))).toBe('MERKLE_RANGE');
  });
});

describe('properties and fuzz', () => {
  it('cosign → verify round-trips for any timestamp and body', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: 10 ** 9 }),
        (t, size) => {
          const text = formatCheckpointBody({ ...body, size });
          const sig = cosign(text, w[0]!, t);
          expect(verifyCosignature(verifierKeyOf(w[0]!), text, sig)).toBe(t);
          expect(decodeCosignatureValue(sig.signature).timestamp).toBe(t);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('fuzz: mutated checkpoints and cosignature values yield only LogError', () => {
    const seed = new TextEncoder().encode(cosigned());
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        fc.uint8Array({ maxLength: 100 }),
        (edits, random) => {
          const b = seed.slice();
          for (const [at, v] of edits) b[at % b.length] = v;
          for (const f of [
            () => verifyCheckpoint(b, policy(2)),
            () => parseCheckpoint(random),
            () => decodeCosignatureValue(random),
            () => parseCheckpointBody(new TextDecoder().decode(random)),
          ]) {
            try {
              f();
            } catch (e) {
              expect(e).toBeInstanceOf(LogError);
            }
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});
