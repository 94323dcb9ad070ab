// C2SP signed-note: the notes and keys of ../shared/vectors/signed-note, the format rules (last blank line, em
// dash, name rules, 16 signatures), the key rules (unknown ignored, known must verify), keys, round trips, fuzz.
import { readFileSync } from 'node:fs';
import { fromBase64, toBase64 } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sharedVectors } from '../../../test/shared-vectors.js';
import { LogError } from './errors.js';
import {
  computeKeyId,
  ed25519Signer,
  ed25519Verifier,
  formatNote,
  formatSignerKey,
  formatVerifierKey,
  generateSignerKey,
  isValidKeyName,
  MAX_NOTE_SIGNATURES,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  signerKeyFromSeed,
  signNote,
  verifierKeyOf,
  verifyNote,
} from './note.js';

// The public vectors live in shared/ beside the repository ($OVERT_VECTORS overrides); skipped loudly if absent.
const signedNote = sharedVectors('signed-note', 'vectors.json');
const vectors = signedNote.present
  ? JSON.parse(readFileSync(signedNote.path('vectors.json'), 'utf8'))
  : { notes: [], cosignatures: [] };

function code(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    return e.code;
  }
}

const alice = signerKeyFromSeed('example.com/alice', SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(1));
const bob = signerKeyFromSeed('example.com/bob', SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(2));
const aliceV = ed25519Verifier(verifierKeyOf(alice));
const bobV = ed25519Verifier(verifierKeyOf(bob));

signedNote.describe('signed-note vectors', () => {
  it.each(vectors.notes as { name: string; vkey: string; note: string }[])('verifies $name', (v) => {
    const key = parseVerifierKey(v.vkey);
    expect(formatVerifierKey(key)).toBe(v.vkey);
    const n = openNote(v.note, [ed25519Verifier(key)]);
    expect(n.verified).toHaveLength(1);
    expect(n.text).toBe(v.note.slice(0, v.note.lastIndexOf('\n\n') + 1));
    expect(formatNote(parseNote(v.note))).toBe(v.note);
  });

  it.each(vectors.notes as { name: string; vkey: string; note: string }[])(
    'rejects $name with a flipped bit',
    (v) => {
      const key = parseVerifierKey(v.vkey);
      const tampered = v.note.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
      expect(code(() => openNote(tampered, [ed25519Verifier(key)]))).toBe('NOTE_BAD_SIGNATURE');
    },
  );

  it('splits a vkey only on its first two "+" (sum.golang.org key has "+" in its base64)', () => {
    const v = vectors.notes.find((n: { name: string }) => n.name === 'sum.golang.org-checkpoint');
    const key = parseVerifierKey(v.vkey);
    expect(key.name).toBe('sum.golang.org');
    expect(key.keyId).toBe(0x033de0ae);
    expect(key.publicKey).toHaveLength(32);
  });
});

describe('signed-note format', () => {
  it('separates text and signatures at the LAST blank line', () => {
    const text = 'first paragraph\n\nsecond paragraph\n\nthird\n';
    const signed = signNote(text, [ed25519Signer(alice)]);
    const n = openNote(signed, [aliceV]);
    expect(n.text).toBe(text);
    // A parser that split at the first blank line would see "first paragraph\n" as the text.
    expect(parseNote(signed).text).not.toBe('first paragraph\n');
  });

  it('requires the em dash, a space, a valid name and canonical base64', () => {
    const good = signNote('hello\n', [ed25519Signer(alice)]);
    const sigLine = good.slice(good.lastIndexOf('\n\n') + 2);
    expect(code(() => parseNote(good.replace('\u2014', '-')))).toBe('NOTE_MALFORMED');
    expect(code(() => parseNote(good.replace('\u2014 ', '\u2014')))).toBe('NOTE_MALFORMED');
    expect(code(() => parseNote(good.replace(' example.com/alice ', ' example.com/a+lice ')))).toBe(
      'NOTE_NAME',
    );
    expect(code(() => parseNote(good.replace(/=?\n$/, '!\n')))).toBe('NOTE_MALFORMED');
    expect(code(() => parseNote(good.slice(0, -1)))).toBe('NOTE_MALFORMED');
    expect(code(() => parseNote('hello\n'))).toBe('NOTE_MALFORMED');
    expect(code(() => parseNote(`hello\n\n${sigLine}\n`))).toBe('NOTE_MALFORMED'); // empty line among signatures
    expect(code(() => parseNote(`hel\tlo\n\n${sigLine}`))).toBe('NOTE_MALFORMED');
    expect(code(() => parseNote(`hello\r\n\n${sigLine}`))).toBe('NOTE_MALFORMED');
    expect(code(() => parseNote(new Uint8Array([0x68, 0xff, 0x0a, 0x0a])))).toBe('NOTE_MALFORMED');
    expect(code(() => parseNote(`\ud800\n\n${sigLine}`))).toBe('NOTE_MALFORMED');
    // A signature that is only a key ID is malformed (key ID plus at least one byte).
    expect(code(() => parseNote(`hello\n\n\u2014 example.com/alice ${toBase64(new Uint8Array(4))}\n`))).toBe(
      'NOTE_MALFORMED',
    );
  });

  it('accepts 16 signatures and rejects 17', () => {
    const signers = Array.from({ length: 17 }, (_, i) =>
      ed25519Signer(
        signerKeyFromSeed(`w${i}.example`, SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(i + 10)),
      ),
    );
    const sixteen = signNote('x\n', signers.slice(0, MAX_NOTE_SIGNATURES));
    expect(parseNote(sixteen).signatures).toHaveLength(16);
    const extra = `\u2014 w16.example ${toBase64(new Uint8Array(68).fill(1))}\n`;
    expect(code(() => parseNote(sixteen + extra))).toBe('NOTE_TOO_MANY_SIGNATURES');
  });

  it('applies the key name rules: non-empty, no Unicode space, no plus', () => {
    for (const bad of ['', 'a b', 'a+b', 'a\u00a0b', 'a\u2003b', 'a\u3000b', 'a\u0085b', 'a\tb']) {
      expect(isValidKeyName(bad)).toBe(false);
    }
    for (const good of ['example.com/log', 'oid/1.3.6.1', 'ünïcödé', 'a\u180eb'])
      expect(isValidKeyName(good)).toBe(true);
  });
});

describe('signed-note verification rules', () => {
  const signed = signNote('the text\n', [ed25519Signer(alice), ed25519Signer(bob)]);

  it('ignores signatures from unknown keys, even with a known name or ID', () => {
    const n = openNote(signed, [aliceV]);
    expect(n.verified.map((s) => s.name)).toEqual(['example.com/alice']);
    expect(n.unverified.map((s) => s.name)).toEqual(['example.com/bob']);
    const sameName = signerKeyFromSeed(
      'example.com/alice',
      SIGNATURE_TYPE_ED25519,
      new Uint8Array(32).fill(9),
    );
    const impostor = signNote('the text\n', [ed25519Signer(sameName)]);
    expect(code(() => openNote(impostor, [aliceV]))).toBe('NOTE_UNVERIFIED');
  });

  it('rejects the whole note when a known key signature fails', () => {
    const note = parseNote(signed);
    const broken = {
      text: note.text,
      signatures: note.signatures.map((s, i) =>
        i === 1 ? { ...s, signature: s.signature.map((b) => b ^ 1) } : s,
      ),
    };
    expect(code(() => verifyNote(broken, [aliceV]))).toBeUndefined();
    expect(code(() => verifyNote(broken, [aliceV, bobV]))).toBe('NOTE_BAD_SIGNATURE');
  });

  it('rejects a note with no known signature', () => {
    expect(code(() => openNote(signed, []))).toBe('NOTE_UNVERIFIED');
  });

  it('counts a repeated signature once', () => {
    const note = parseNote(signed);
    const twice = formatNote({ text: note.text, signatures: [note.signatures[0]!, note.signatures[0]!] });
    expect(openNote(twice, [aliceV]).verified).toHaveLength(1);
  });
});

describe('signed-note keys', () => {
  it.skipIf(!signedNote.present)('computes key IDs as SHA-256(name ‖ 0x0A ‖ type ‖ key)[:4]', () => {
    const c = vectors.cosignatures[0];
    const pub = Uint8Array.from(Buffer.from(c.ed25519_public_hex, 'hex'));
    expect(computeKeyId(c.cosigner_name, SIGNATURE_TYPE_COSIGNATURE, pub).toString(16).padStart(8, '0')).toBe(
      c.key_id_hex,
    );
  });

  it('round-trips signer keys and derives the matching verifier key', () => {
    const skey = 'PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg';
    const vkey = 'example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx';
    const k = parseSignerKey(skey);
    expect(formatSignerKey(k)).toBe(skey);
    expect(formatVerifierKey(verifierKeyOf(k))).toBe(vkey);
  });

  it('rejects malformed keys with our own errors', () => {
    const vkey = 'example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx';
    expect(code(() => parseVerifierKey(vkey.replace('33d7b496', '33d7b497')))).toBe('NOTE_KEY_ID');
    expect(code(() => parseVerifierKey(vkey.replace('33d7b496', '33d7b4')))).toBe('NOTE_KEY_MALFORMED');
    expect(code(() => parseVerifierKey('no-plus-at-all'))).toBe('NOTE_KEY_MALFORMED');
    expect(code(() => parseVerifierKey(vkey.replace('+AeH', '+AuH')))).toBe('NOTE_KEY_TYPE');
    expect(code(() => parseVerifierKey(vkey.slice(0, -4)))).toBe('NOTE_KEY_MALFORMED');
    expect(code(() => parseVerifierKey(`a b${vkey.slice(vkey.indexOf('+'))}`))).toBe('NOTE_NAME');
    expect(code(() => parseSignerKey(vkey))).toBe('NOTE_KEY_MALFORMED');
  });
});

describe('signed-note properties', () => {
  const textArb = fc
    .array(
      fc
        .string({ unit: 'grapheme', maxLength: 20 })
        .map((s) => [...s].filter((ch) => ch.codePointAt(0)! >= 0x20).join('')),
      {
        minLength: 1,
        maxLength: 5,
      },
    )
    .map((lines) => `${lines.join('\n')}\n`);

  it('sign → format → parse → verify round-trips any text', () => {
    fc.assert(
      fc.property(textArb, fc.uint8Array({ minLength: 32, maxLength: 32 }), (text, seed) => {
        const k = signerKeyFromSeed('prop.example/k', SIGNATURE_TYPE_ED25519, seed);
        const signed = signNote(text, [ed25519Signer(k)]);
        expect(formatNote(parseNote(signed))).toBe(signed);
        expect(openNote(signed, [ed25519Verifier(verifierKeyOf(k))]).text).toBe(text);
      }),
      { numRuns: 100 },
    );
  });

  it('key formats round-trip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(1, 4), (seed, type) => {
        const k = signerKeyFromSeed('prop.example/key', type, seed);
        expect(formatSignerKey(parseSignerKey(formatSignerKey(k)))).toBe(formatSignerKey(k));
        expect(parseVerifierKey(formatVerifierKey(verifierKeyOf(k)))).toEqual(verifierKeyOf(k));
      }),
      { numRuns: 50 },
    );
  });

  it('fuzz: random and mutated notes and keys yield only LogError', () => {
    const seedNote = signNote('example.com/log\n42\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', [
      ed25519Signer(alice),
      ed25519Signer(bob),
    ]);
    const seedBytes = new TextEncoder().encode(seedNote);
    const mutated = fc
      .array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'del', 'ins')), {
        maxLength: 6,
      })
      .map((edits) => {
        const b = Array.from(seedBytes);
        for (const [at, v, op] of edits) {
          const i = at % (b.length + 1);
          if (op === 'set' && i < b.length) b[i] = v;
          else if (op === 'del') b.splice(i, 1);
          else b.splice(i, 0, v);
        }
        return new Uint8Array(b);
      });
    const input = fc.oneof(mutated, fc.uint8Array({ maxLength: 200 }));
    fc.assert(
      fc.property(input, (bytes) => {
        for (const f of [
          () => openNote(bytes, [aliceV, bobV]),
          () => parseVerifierKey(new TextDecoder().decode(bytes)),
          () => parseSignerKey(`PRIVATE+KEY+${new TextDecoder().decode(bytes)}`),
        ]) {
          try {
            f();
          } catch (e) {
            expect(e).toBeInstanceOf(LogError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('generated keys verify their own signatures', () => {
    const k = generateSignerKey('fresh.example/k');
    const signed = signNote('x\n', [ed25519Signer(k)]);
    expect(openNote(signed, [ed25519Verifier(verifierKeyOf(k))]).verified).toHaveLength(1);
    const vkey = formatVerifierKey(verifierKeyOf(k));
    // The base64 part may contain '+': take everything after the second '+'.
    const b64 = vkey.slice(vkey.indexOf('+', vkey.indexOf('+') + 1) + 1);
    expect(fromBase64(b64)[0]).toBe(1);
    expect(parseVerifierKey(vkey)).toEqual(verifierKeyOf(k));
  });
});
