/**
 * The trustees of the all-in-one start (docs/spec/start.md §4): three trustee daemons (@overt/trustee), each a
 * separate child process with its own data directory, vault and operator API, running the key ceremonies among
 * themselves over this relay's trustee mailbox and publishing the epoch keys with their own signatures.
 *
 * The server does not import @overt/trustee (the two are one layer): the daemon's entry file is found through the
 * workspace's `@overt/trustee/package.json` (require.resolve) and forked — `dist/main.js`, or `src/main.ts` under
 * tsx when this file runs from the sources — and spoken to only over its IPC channel (its `listening` report) and
 * the relay.
 *
 * Each trustee's vault key is a random 32-byte key in `trustees/vault-keys/trustee-<i>.key` (mode 0600), made on
 * first start and handed to the child in OVERT_TRUSTEE_VAULT_KEY. Honest limit: on one machine, under one user,
 * whoever can read ./data can read every vault key and so every share. The daemons are real separate parties in
 * every other respect (processes, keys, signatures, the relay as an untrusted transport); independence needs them on
 * separate machines with their own passphrases (`overt-trustee --passphrase-file`).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromBase64, toHex } from '@overt/core';
import { buildIsCurrent } from './child-entry.js';
import { StandaloneError } from './errors.js';
import { loadOrCreateSecretFile, SECRET_BYTES } from './files.js';

export interface TrusteeChildInfo {
  readonly index: number;
  /** The trustee's operator API (127.0.0.1, bearer token in its data directory's api.token). */
  readonly url: string;
  readonly pid: number;
  readonly dataDir: string;
  readonly signingKey: Uint8Array;
  readonly encryptionKey: Uint8Array;
}

export interface TrusteeAnchors {
  readonly origin: string;
  readonly logVkey: string;
  readonly witnessVkeys: readonly string[];
  readonly witnessQuorum: number;
  readonly adminKey: string;
  /** The relay's execution key (base64): the daemons verify every logged execution under it (access.md §4.1). */
  readonly accessKey: string;
}

/**
 * The trustee daemon's entry: its compiled main.js, or main.ts under tsx when this file runs from the sources and
 * the trustee's build (and that of the packages it imports) is not current (child-entry.ts).
 */
export function trusteeEntry(): { path: string; execArgv: string[]; env: NodeJS.ProcessEnv } {
  const pkg = dirname(createRequire(import.meta.url).resolve('@overt/trustee/package.json'));
  const dist = { path: join(pkg, 'dist', 'main.js'), execArgv: [], env: { ...process.env } };
  if (!fileURLToPath(import.meta.url).endsWith('.ts')) return dist;
  const packages = dirname(pkg);
  if (
    buildIsCurrent(
      dist.path,
      ['core', 'log', 'client', 'trustee'].map((p) => join(packages, p)),
    )
  )
    return dist;
  return {
    path: join(pkg, 'src', 'main.ts'),
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      TSX_TSCONFIG_PATH: fileURLToPath(new URL('./tsconfig.run.json', import.meta.url)),
    },
  };
}

function childError(message: string): StandaloneError {
  return new StandaloneError('START_CHILD', message, { check: 'START-5' });
}

/**
 * Forks trustee `index` (its vault key made on first start) before the relay listens: the child loads its code
 * meanwhile. `start(relayUrl, anchors)` hands it the relay and waits for its `listening` report (START-5).
 */
export function forkTrusteeChild(
  o: { readonly trusteesDir: string; readonly index: number; readonly pollMs?: number },
  timeoutMs = 60_000,
): {
  child: ChildProcess;
  start(relayUrl: string, anchors: TrusteeAnchors): Promise<{ child: ChildProcess; info: TrusteeChildInfo }>;
} {
  const keyDir = join(o.trusteesDir, 'vault-keys');
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const { secret } = loadOrCreateSecretFile(join(keyDir, `trustee-${o.index}.key`), SECRET_BYTES);
  const dataDir = join(o.trusteesDir, `trustee-${o.index}`);
  const entry = trusteeEntry();
  const args = [
    '--data',
    dataDir,
    '--relay',
    'parent',
    '--index',
    String(o.index),
    '--port',
    '0',
    '--poll-ms',
    String(o.pollMs ?? 200),
    // On one machine a short idle pause costs little, and the first start's two ceremonies wait on it:
    // 15 s to the epoch keys with the daemon's default 2 s, 6–7 s with 500 ms (measured here).
    '--idle-ms',
    '500',
  ];
  const child = fork(entry.path, args, {
    execArgv: entry.execArgv,
    env: { ...entry.env, OVERT_TRUSTEE_VAULT_KEY: toHex(secret) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  secret.fill(0);
  let exitCode: number | null | undefined;
  child.once('exit', (code) => {
    exitCode = code;
  });
  const start = (relayUrl: string, anchors: TrusteeAnchors) =>
    new Promise<{ child: ChildProcess; info: TrusteeChildInfo }>((resolve, reject) => {
      const fail = (message: string) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(childError(message));
      };
      if (exitCode !== undefined) {
        reject(childError(`trustee ${o.index} exited (code ${exitCode})`));
        return;
      }
      const timer = setTimeout(() => fail(`trustee ${o.index} did not start in time`), timeoutMs);
      const onExit = (code: number | null) => fail(`trustee ${o.index} exited (code ${code})`);
      child.once('exit', onExit);
      child.once(
        'message',
        (m: {
          type?: string;
          url?: string;
          message?: string;
          identity?: { index: number; signingKey: string; hpkeKey: string };
        }) => {
          clearTimeout(timer);
          child.off('exit', onExit);
          if (m.type !== 'listening' || !m.url || !m.identity) {
            fail(`trustee ${o.index} failed to start: ${m.message ?? 'no answer'}`);
            return;
          }
          resolve({
            child,
            info: {
              index: m.identity.index,
              url: m.url,
              pid: child.pid ?? 0,
              dataDir,
              signingKey: fromBase64(m.identity.signingKey),
              encryptionKey: fromBase64(m.identity.hpkeKey),
            },
          });
        },
      );
      child.send({ type: 'relay', url: relayUrl, anchors });
    });
  return { child, start };
}
