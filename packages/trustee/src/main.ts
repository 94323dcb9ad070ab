/**
 * `overt-trustee` / `node packages/trustee/dist/main.js`: runs one trustee daemon (docs/spec/access.md §6).
 *
 *   main.js --data DIR --relay URL [--index N] [--host H] [--port P] [--passphrase-file F] [--anchors JSON]
 *           [--phase-ms MS] [--poll-ms MS] [--idle-ms MS] [--unseal-grace MS]
 *
 * The unseal grace (after-release.md §1) is --unseal-grace, else OVERT_UNSEAL_GRACE_MS from the environment (the
 * all-in-one start's children inherit it), else 60,000 ms.
 * The vault key comes from OVERT_TRUSTEE_VAULT_KEY (hex), OVERT_TRUSTEE_PASSPHRASE or --passphrase-file. Without
 * --anchors the log key, witnesses and org key are read from the relay's /.well-known/overt on first start and
 * pinned. Started with an IPC channel (child_process.fork, as `npm start` does), it reports
 * `{type: 'listening', url, index, identity, apiTokenPath}` or `{type: 'error', code, message}` to its parent and
 * stops when the channel closes; it stops on SIGINT/SIGTERM too.
 *
 * With `--relay parent` (npm start), the relay URL and the anchors come from the parent as the first IPC message
 * `{type: 'relay', url, anchors}`: the parent forks the daemon before its relay listens, so that loading this
 * process overlaps with the rest of the start.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { API_TOKEN_FILE } from './api.js';
import { startTrustee } from './daemon.js';
import type { TrustAnchors } from './monitor.js';
import { vaultKeySource } from './vault.js';

function send(message: object): void {
  if (process.send) process.send(message);
}

const { values } = parseArgs({
  options: {
    data: { type: 'string' },
    relay: { type: 'string' },
    index: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'passphrase-file': { type: 'string' },
    anchors: { type: 'string' },
    'phase-ms': { type: 'string' },
    'poll-ms': { type: 'string' },
    'idle-ms': { type: 'string' },
    'unseal-grace': { type: 'string' },
  },
  strict: true,
});

/** The first IPC message of the parent: the relay's URL and the trust anchors. */
function fromParent(): Promise<{ url: string; anchors: TrustAnchors }> {
  return new Promise((resolve, reject) => {
    if (!process.send) {
      reject(new Error('--relay parent needs an IPC channel'));
      return;
    }
    process.once('message', (m: { type?: string; url?: string; anchors?: TrustAnchors }) => {
      if (m.type === 'relay' && typeof m.url === 'string' && m.anchors)
        resolve({ url: m.url, anchors: m.anchors });
      else reject(new Error('the parent sent no relay URL'));
    });
    process.once('disconnect', () => reject(new Error('the parent went away')));
  });
}

try {
  if (!values.data || !values.relay)
    throw new Error('usage: main.js --data DIR --relay URL [--index N] [--port P]');
  let relayUrl = values.relay;
  let anchors = values.anchors ? (JSON.parse(values.anchors) as TrustAnchors) : undefined;
  if (relayUrl === 'parent') ({ url: relayUrl, anchors } = await fromParent());
  const graceText = values['unseal-grace'] ?? process.env.OVERT_UNSEAL_GRACE_MS;
  if (graceText !== undefined && !/^(0|[1-9][0-9]{0,11})$/.test(graceText))
    throw new Error('--unseal-grace (or OVERT_UNSEAL_GRACE_MS) must be a count of milliseconds');
  const unsealGrace = graceText === undefined ? undefined : Number(graceText);
  const key = vaultKeySource(process.env, values['passphrase-file']);
  // The key is in memory now; children of this process need not see it.
  delete process.env.OVERT_TRUSTEE_VAULT_KEY;
  delete process.env.OVERT_TRUSTEE_PASSPHRASE;
  const running = await startTrustee({
    dataDir: values.data,
    relayUrl,
    key,
    port: values.port ? Number(values.port) : 0,
    ...(values.host ? { host: values.host } : {}),
    ...(values.index ? { index: Number(values.index) } : {}),
    ...(anchors ? { anchors } : {}),
    ...(values['phase-ms'] ? { phaseMs: Number(values['phase-ms']) } : {}),
    ...(values['poll-ms'] ? { pollMs: Number(values['poll-ms']) } : {}),
    ...(values['idle-ms'] ? { idleMs: Number(values['idle-ms']) } : {}),
    ...(unsealGrace !== undefined ? { unsealGraceMs: unsealGrace } : {}),
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  send({
    type: 'listening',
    url: running.url,
    index: running.index,
    identity: running.vault.identity,
    apiTokenPath: join(values.data, API_TOKEN_FILE),
    pid: process.pid,
  });
  if (!process.send) process.stdout.write(`trustee ${running.index} listening on ${running.url}\n`);
} catch (e) {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : 'STARTUP';
  const message = e instanceof Error ? e.message : String(e);
  send({ type: 'error', code, message });
  if (!process.send) process.stderr.write(`${message}\n`);
  process.exit(1);
}
