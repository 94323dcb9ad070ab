/**
 * bench/orders: how far the compliance archive trails live traffic under a standing order
 * (docs/spec/after-release.md §8.4; issue #11: target under 10 s at 100 recorded messages/s).
 *
 * Against real processes: `scripts/start.mjs` (relay, log, two witnesses, three trustee daemons, each its own
 * process) on free ports and a temporary data directory; the `overt` CLI as processes for the admin, the requester
 * and the trustees; one in-process OvertClient per user. Two phases in the same run:
 *
 *   baseline  the same traffic (a recorded trader → a client, paced at --rate messages/s) with no order: the
 *             relay's acceptance latency (sendText until the relay answered);
 *   order     an order over the trader approved by trustees 1 and 2 and `overt order archive --follow` running;
 *             the same traffic for --seconds; each message's lag = the time its plaintext was in the archive
 *             (archivedAt) − the time the relay accepted it. Also the acceptance latency, to see whether the
 *             order slows live traffic.
 *
 * Prints one JSON object: rates achieved, p50/p99/max of the lags and latencies, messages missing from the archive.
 *
 * The traffic comes from --senders recorded traders (each in its own conversation with a client, each paced at
 * rate / senders, one message at a time): one OvertClient cannot send concurrently.
 *
 *   npx tsx bench/orders/archive-lag.ts [--rate 100] [--seconds 60] [--baseline-seconds 15] [--senders 2]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MemoryStore, OvertClient, type TrustAnchors } from '../../packages/client/src/index.js';
import { fromBase64, generateSigningKey, toBase64, toBase64Url } from '../../packages/core/src/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '60' },
    'baseline-seconds': { type: 'string', default: '15' },
    senders: { type: 'string', default: '2' },
  },
});
const SENDERS = Number(values.senders);
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const BASELINE_SECONDS = Number(values['baseline-seconds']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cli(args: readonly string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(root, 'packages/cli/bin/overt.js'), ...args, '--json'], {
      env: { ...process.env, OVERT_CLI_SOURCE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => {
      out += String(d);
    });
    p.stderr.on('data', (d) => {
      err += String(d);
    });
    p.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as Record<string, unknown>)
        : reject(new Error(`overt ${args.slice(0, 2).join(' ')} exited ${code}: ${out} ${err}`)),
    );
  });
}

function start(dataDir: string): Promise<{ system: ChildProcess; relay: string }> {
  const system = spawn(process.execPath, ['scripts/start.mjs', '--port', '0', '--data', dataDir], {
    cwd: root,
    env: { ...process.env, OVERT_START_SOURCE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  system.stderr?.on('data', (d) => {
    out += String(d);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`start timed out:\n${out}`)), 180_000);
    system.once('exit', (code) => reject(new Error(`start exited with ${code}:\n${out}`)));
    system.stdout?.on('data', (d) => {
      out += String(d);
      if (!out.includes('Ctrl-C stops everything.')) return;
      clearTimeout(timer);
      const url = /relay\s+(http:\/\/\S+)/.exec(out)?.[1];
      if (url) resolve({ system, relay: url });
      else reject(new Error(`unexpected output:\n${out}`));
    });
  });
}

function quantiles(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => (s.length === 0 ? null : s[Math.min(s.length - 1, Math.floor(p * s.length))]!);
  return { n: s.length, p50: q(0.5), p99: q(0.99), max: s.length === 0 ? null : s[s.length - 1]! };
}

type Sent = { id: string; acceptedAt: number; latency: number };

/** Sends for `seconds` at `rate` messages/s in all (paced, one at a time per sender); each message's acceptance. */
async function traffic(
  senders: readonly { client: OvertClient; conversationId: Uint8Array }[],
  seconds: number,
  tag: string,
): Promise<{ sent: Sent[]; elapsed: number }> {
  const sent: Sent[] = [];
  const t0 = Date.now();
  const per = RATE / senders.length;
  const total = Math.round(per * seconds);
  const stop = t0 + seconds * 1000;
  await Promise.all(
    senders.map(async ({ client, conversationId }, s) => {
      // Paced at the target rate, and never past `seconds`: a machine that cannot keep up sends fewer (the
      // achieved rate is reported).
      for (let i = 0; i < total && Date.now() < stop; i++) {
        const wait = t0 + (i * 1000) / per - Date.now();
        if (wait > 0) await sleep(wait);
        const before = Date.now();
        const r = await client.sendText(conversationId, `${tag} ${s}/${i}`);
        const acceptedAt = Date.now();
        sent.push({ id: toBase64Url(r.messageId), acceptedAt, latency: acceptedAt - before });
      }
    }),
  );
  return { sent, elapsed: (Date.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'overt-bench-orders-'));
  const dataDir = join(tmp, 'data');
  const { system, relay } = await start(dataDir);
  let follower: ChildProcess | undefined;
  try {
    const wk = (await (await fetch(`${relay}/.well-known/overt`)).json()) as {
      org: string;
      admin_key: string;
      log: { origin: string; vkey: string; witness_vkeys: string[]; witness_quorum: number };
    };
    const anchors = join(tmp, 'org.json');
    writeFileSync(anchors, JSON.stringify(wk));
    const trust: TrustAnchors = {
      log: {
        origin: wk.log.origin,
        url: `${relay}/log/`,
        vkey: wk.log.vkey,
        witnessVkeys: wk.log.witness_vkeys,
        witnessQuorum: wk.log.witness_quorum,
      },
      adminKey: fromBase64(wk.admin_key),
    };
    const adminArgs = ['--relay', relay, '--admin-key', join(dataDir, 'admin.key'), '--org-anchors', anchors];
    const reqArgs = [
      '--relay',
      relay,
      '--requester-key',
      join(dataDir, 'requester', 'secret.key'),
      '--org-anchors',
      anchors,
    ];
    const traders = Array.from({ length: SENDERS }, (_, i) => `trader${i + 1}`);
    await cli(['order', 'recorded', ...adminArgs, ...traders.flatMap((t) => ['--add', t])]);
    const device = async (user: string) => {
      const key = generateSigningKey();
      await cli([
        'admin',
        'enrol',
        '--relay',
        relay,
        '--admin-key',
        join(dataDir, 'admin.key'),
        '--user',
        user,
        '--device',
        `${user}-phone`,
        '--device-key',
        toBase64(key.publicKey),
      ]);
      const c = await OvertClient.open({
        url: relay,
        orgId: wk.org,
        userId: user,
        deviceId: `${user}-phone`,
        signingKey: key,
        store: new MemoryStore(),
        trust,
      });
      await c.publishKeyPackages(2);
      return c;
    };
    await device('client');
    const senders: { client: OvertClient; conversationId: Uint8Array }[] = [];
    for (const t of traders) {
      const client = await device(t);
      const { conversationId } = await client.createConversation(['client']);
      senders.push({ client, conversationId });
    }

    process.stderr.write('bench/orders: system up, baseline traffic\n');
    // Baseline: the same traffic, no order.
    const baseline = await traffic(senders, BASELINE_SECONDS, 'baseline');

    // The order: filed, approved by trustees 1 and 2, the archive following it.
    const filed = await cli([
      'order',
      'file',
      ...reqArgs,
      ...traders.flatMap((t) => ['--subject', t]),
      '--until',
      new Date(Date.now() + 3_600_000).toISOString(),
      '--legal-basis',
      'MiFID II art. 16(7)',
      '--document-hash',
      '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
      '--justification',
      'bench',
    ]);
    const id = filed.orderId as string;
    for (const i of [1, 2]) {
      const dir = join(dataDir, 'trustees', `trustee-${i}`);
      for (;;) {
        if (JSON.stringify(await cli(['trustee', 'review', '--data', dir])).includes(id)) break;
        await sleep(500);
      }
      await cli(['trustee', 'approve', id, '--data', dir, '--reason', 'bench']);
    }
    const archive = join(tmp, 'archive');
    follower = spawn(
      process.execPath,
      [
        join(root, 'packages/cli/bin/overt.js'),
        'order',
        'archive',
        id,
        ...reqArgs,
        '--out',
        archive,
        '--follow',
        '--interval',
        '250',
        '--json',
      ],
      {
        env: { ...process.env, OVERT_CLI_SOURCE: '1' },
        stdio: ['ignore', 'ignore', openSync(join(tmp, 'follower.err'), 'w')],
        detached: true,
      },
    );
    process.stderr.write('bench/orders: order approved, archive following, traffic\n');
    const ordered = await traffic(senders, SECONDS, 'order');
    process.stderr.write(`bench/orders: ${ordered.sent.length} sent, waiting for the archive\n`);
    // Wait until the follower's archive holds as many messages as were sent, or makes no progress for 60 s.
    let last = -1;
    let still = Date.now();
    for (;;) {
      await sleep(2_000);
      let n = 0;
      try {
        const a = JSON.parse(readFileSync(join(archive, 'archive.json'), 'utf8')) as {
          batches: { opened: number }[];
        };
        n = a.batches.reduce((m, b) => m + b.opened, 0);
      } catch {
        n = 0;
      }
      if (n >= ordered.sent.length) break;
      if (n !== last) {
        last = n;
        still = Date.now();
      } else if (Date.now() - still > 60_000) break;
    }
    // The follower's own archive holds the timestamps that matter (it ran while the traffic did).
    const followerFailed = follower.exitCode !== null;
    if (follower.pid !== undefined && !followerFailed)
      try {
        process.kill(-follower.pid, 'SIGTERM');
      } catch {}
    await sleep(1_000);
    const followerErrors = readFileSync(join(tmp, 'follower.err'), 'utf8')
      .split('\n')
      .filter((l) => l !== '').length;
    // The relay rate-limits the requester (RLY-5): retry the reading pass a few times.
    let followed: Record<string, unknown> | undefined;
    for (let attempt = 0; followed === undefined; attempt++) {
      try {
        followed = await cli(['order', 'archive', id, ...reqArgs, '--out', archive, '--show']);
      } catch (e) {
        if (attempt >= 10) throw e;
        await sleep(3_000);
      }
    }
    const at = new Map(
      (followed.shown as { messageId: string; archivedAt: number }[]).map((m) => [m.messageId, m.archivedAt]),
    );
    const lags: number[] = [];
    let missing = 0;
    for (const s of ordered.sent) {
      const t = at.get(s.id);
      if (t === undefined) missing++;
      else lags.push(t - s.acceptedAt);
    }
    const status = await cli(['order', 'status', id, ...reqArgs]);
    console.log(
      JSON.stringify(
        {
          bench: 'orders/archive-lag',
          target: { rate: RATE, seconds: SECONDS, baselineSeconds: BASELINE_SECONDS, senders: SENDERS },
          baseline: {
            messages: baseline.sent.length,
            rate: baseline.sent.length / baseline.elapsed,
            acceptanceMs: quantiles(baseline.sent.map((s) => s.latency)),
          },
          order: {
            messages: ordered.sent.length,
            rate: ordered.sent.length / ordered.elapsed,
            acceptanceMs: quantiles(ordered.sent.map((s) => s.latency)),
            archiveLagMs: quantiles(lags),
            missing,
            followerExitedEarly: followerFailed,
            followerPassesFailed: followerErrors,
            batches: (status.totals as { batches: number }).batches,
            envelopesInBatches: (status.totals as { envelopes: number }).envelopes,
          },
        },
        null,
        2,
      ),
    );
  } finally {
    if (follower?.pid !== undefined)
      try {
        process.kill(-follower.pid, 'SIGKILL');
      } catch {}
    if (system.pid !== undefined) {
      try {
        process.kill(-system.pid, 'SIGTERM');
      } catch {}
      await sleep(3_000);
      try {
        process.kill(-system.pid, 'SIGKILL');
      } catch {}
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
