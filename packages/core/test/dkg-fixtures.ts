/**
 * A real (k, n) distributed key generation run in process (runDkgLocally), for tests and benchmarks that need a
 * threshold key set and its key shares made the way trustees make them: fresh signing and HPKE keys per
 * participant, every message checked, no rejection allowed. Not deterministic (fresh keys each call).
 */
import {
  createDkgSession,
  type DkgOutput,
  DkgParticipant,
  deriveDkgEncryptionKey,
  generateSigningKey,
  randomBytes,
  runDkgLocally,
} from '../src/index.js';

export async function localDkg(k: number, n: number, org = 'test'): Promise<DkgOutput[]> {
  const ts = await Promise.all(
    Array.from({ length: n }, async () => ({
      signingKey: generateSigningKey(),
      enc: await deriveDkgEncryptionKey(randomBytes(32)),
    })),
  );
  const session = createDkgSession({
    org,
    epoch: 1,
    attempt: 0,
    threshold: k,
    participants: ts.map((t, i) => ({
      index: i + 1,
      signingKey: t.signingKey.publicKey,
      encryptionKey: t.enc.publicKey,
    })),
  });
  const run = await runDkgLocally(
    ts.map((t, i) =>
      DkgParticipant.forDkg(session, {
        index: i + 1,
        signingKey: t.signingKey,
        encryptionSecretKey: t.enc.secretKey,
      }),
    ),
  );
  if (run.rejections.length > 0) throw new Error('the DKG rejected a message');
  return run.outputs.map((o) => {
    if (o instanceof Error) throw o;
    return o;
  });
}
