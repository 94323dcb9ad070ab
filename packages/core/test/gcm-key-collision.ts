/**
 * A key-colliding AES-GCM ciphertext ("invisible salamanders": Dodis–Grubbs–Ristenpart–Woodage, CRYPTO
 * 2018, §6; the construction of Len–Grubbs–Ristenpart, USENIX Security 2021, §3): one ciphertext ‖ tag that
 * authenticates under two different (key, nonce) pairs. GHASH is linear in the ciphertext blocks, so leaving
 * one block free and solving one equation over GF(2^128) makes both tags equal. Used by the tests to show
 * that GCM alone is not committing and that the envelope's key commitment closes the gap.
 */
import { ecb } from '@noble/ciphers/aes.js';

const R = 0xe1n << 120n;
const MASK = (1n << 128n) - 1n;

function toBig(b: Uint8Array): bigint {
  let x = 0n;
  for (const v of b) x = (x << 8n) | BigInt(v);
  return x;
}

function toBytes(x: bigint): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** NIST SP 800-38D §6.3 Algorithm 1: multiplication in GCM's bit order. */
function mul(x: bigint, y: bigint): bigint {
  let z = 0n;
  let v = y;
  for (let i = 127; i >= 0; i--) {
    if ((x >> BigInt(i)) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z & MASK;
}

/** x^(2^128 − 2) = x^(−1) for x ≠ 0. */
function inv(x: bigint): bigint {
  let result = 1n << 127n; // the field's 1 in GCM bit order
  let base = x;
  let e = (1n << 128n) - 2n;
  while (e > 0n) {
    if (e & 1n) result = mul(result, base);
    base = mul(base, base);
    e >>= 1n;
  }
  return result;
}

function aesBlock(key: Uint8Array, block: Uint8Array): Uint8Array {
  return ecb(key, { disablePadding: true }).encrypt(block);
}

function blocks(b: Uint8Array): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < b.length; i += 16) {
    const blk = new Uint8Array(16);
    blk.set(b.subarray(i, i + 16));
    out.push(toBig(blk));
  }
  return out;
}

/** GHASH_H over A and C, returned as the coefficients of H^k so the free block can be isolated. */
function ghashTerms(h: bigint, ad: Uint8Array, ct: bigint[]): { powers: bigint[]; terms: bigint[] } {
  const lenBlock = (BigInt(ad.length * 8) << 64n) | BigInt(ct.length * 128);
  const xs = [...blocks(ad), ...ct, lenBlock];
  // GHASH = Σ X_j · H^(m − j + 1) for j = 1..m.
  const m = xs.length;
  const powers: bigint[] = [];
  let p = h;
  for (let k = 1; k <= m; k++) {
    powers[k] = p;
    p = mul(p, h);
  }
  return { powers, terms: xs.map((x, j) => mul(x, powers[m - j]!)) };
}

/**
 * A 2-block ciphertext with a tag that verifies under (k1, n1) and (k2, n2) with associated data `ad`
 * (whose length must be a multiple of 16). Returns ciphertext ‖ tag.
 */
export function collidingCiphertext(
  k1: Uint8Array,
  n1: Uint8Array,
  k2: Uint8Array,
  n2: Uint8Array,
  ad: Uint8Array,
  firstBlock: Uint8Array,
): Uint8Array {
  if (ad.length % 16 !== 0) throw new Error('associated data must be whole blocks');
  const h1 = toBig(aesBlock(k1, new Uint8Array(16)));
  const h2 = toBig(aesBlock(k2, new Uint8Array(16)));
  const j0 = (n: Uint8Array) => {
    const b = new Uint8Array(16);
    b.set(n);
    b[15] = 1;
    return b;
  };
  const e1 = toBig(aesBlock(k1, j0(n1)));
  const e2 = toBig(aesBlock(k2, j0(n2)));
  const c1 = toBig(firstBlock);
  // With the free block X = 0, each side's constant part; X enters with coefficient H^2 (it is the
  // second-to-last block before the length block).
  const t1 = ghashTerms(h1, ad, [c1, 0n]);
  const t2 = ghashTerms(h2, ad, [c1, 0n]);
  const g1 = t1.terms.reduce((a, b) => a ^ b, 0n) ^ e1;
  const g2 = t2.terms.reduce((a, b) => a ^ b, 0n) ^ e2;
  const coeff = t1.powers[2]! ^ t2.powers[2]!;
  const x = mul(g1 ^ g2, inv(coeff));
  const tag = g1 ^ mul(x, t1.powers[2]!);
  const out = new Uint8Array(48);
  out.set(toBytes(c1), 0);
  out.set(toBytes(x), 16);
  out.set(toBytes(tag), 32);
  return out;
}
