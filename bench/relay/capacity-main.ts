/**
 * The body of bench/relay/capacity.ts (run through it: it makes sure `@overt/*` resolve to the sources).
 *
 * Relay capacity (issue 4, figure a; BENCHMARKS.md "relay capacity"): pre-sealed traffic from real WebSocket
 * clients in separate processes (capacity-client.ts), sent on the binary send path (relay.md §6.8) to one relay
 * running in this process. Reports messages per second accepted (answered), stored, and delivered (pushed to
 * the recipient's process, envelope inline), and p50/p99 latency from send to delivery, with core's ingest
 * check ON (worker threads) and OFF (`unsafeSkipCapsuleChecks`, the same-run baseline), on SQLite and — when
 * DATABASE_URL is set — on PostgreSQL in a throwaway schema. Also what the checks cost: worker busy time per
 * message and this process's CPU per message, on vs off.
 *
 *   npx tsx bench/relay/capacity.ts [--quick] [--sqlite-only]
 *
 * Groups have two devices (sender and recipient in different processes), so one message = one delivery.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningKey } from '../../packages/core/src/index.js';
import { generateSignerKey } from '../../packages/log/src/index.js';
import { openSqliteStorage, Sequencer } from '../../packages/log/src/service/index.js';
import { calendarMonthEpoch } from '../../packages/server/src/epochs.js';
import { createRelay, type Relay } from '../../packages/server/src/relay.js';
import { dropSchema, randomSchemaName } from '../../packages/server/src/storage/testing.js';
import { addDevice, Client, publishEpochKey } from '../../packages/server/test/harness.js';
import type { BenchDevice, DoneMessage, SetupMessage } from './capacity-client.js';

const quick = process.argv.includes('--quick');
const sqliteOnly = process.argv.includes('--sqlite-only');
/** `--checks off|on` runs one mode only (profiling); the default runs both, the baseline first. */
const onlyMode = process.argv[process.argv.indexOf('--checks') + 1];
const modes = process.argv.includes('--checks') ? [onlyMode === 'on'] : [false, true];
const PROCESSES = quick ? 2 : 4;
const SENDERS_PER_PROCESS = quick ? 3 : 6;
const perSenderArg = process.argv.indexOf('--messages-per-sender');
const MESSAGES_PER_SENDER = perSenderArg > 0 ? Number(process.argv[perSenderArg + 1]) : quick ? 150 : 500;
const PAYLOAD_BYTES = 200;
const WINDOW = 128;
const WORKERS = 2;
const ORG = 'org.bench';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

interface Storage {
  readonly name: 'sqlite' | 'postgres';
  readonly config: { dataDir: string } | { databaseUrl: string; schema: string };
  cleanup(): Promise<void>;
}

function sqlite(dir: string): Storage {
  return { name: 'sqlite', config: { dataDir: join(dir, 'relay') }, cleanup: async () => {} };
}

function postgres(url: string): Storage {
  const schema = randomSchemaName();
  return { name: 'postgres', config: { databaseUrl: url, schema }, cleanup: () => dropSchema(url, schema) };
}

async function startRelay(storage: Storage, dir: string, checks: boolean) {
  const logStorage = openSqliteStorage({ path: join(dir, 'log.sqlite') });
  const sequencer = await Sequencer.start({
    storage: logStorage,
    origin: 'bench/log',
    key: generateSignerKey('bench/log'),
  });
  const adminKey = generateSigningKey();
  const relay: Relay = await createRelay({
    ...storage.config,
    orgId: ORG,
    adminPublicKey: adminKey.publicKey,
    log: sequencer,
    rateLimits: {
      principal: { capacity: 1_000_000, refillPerSecond: 1_000_000 },
      address: { capacity: 1_000_000, refillPerSecond: 1_000_000 },
    },
    capsuleWorkers: WORKERS,
    unsafeSkipCapsuleChecks: !checks,
  });
  const url = await relay.start();
  const admin = new Client(url, adminKey, { kind: 'admin' });
  const epoch = calendarMonthEpoch(Date.now());
  const { epochKey, response: r } = await publishEpochKey(admin, adminKey, epoch, { orgId: ORG });
  if (r.status !== 201) throw new Error(`epoch key: ${r.status}`);
  const enrol = async (userId: string, deviceId: string): Promise<BenchDevice> => {
    expectOk(await admin.request('POST', '/v1/admin/users', { userId }));
    const { key, response } = await addDevice(admin, adminKey, ORG, userId, deviceId);
    expectOk(response);
    return { userId, deviceId, key };
  };
  const stop = async () => {
    await relay.stop();
    await sequencer.close();
    await logStorage.close();
  };
  return { relay, url, epoch, epochKey, enrol, stop };
}

function expectOk(r: { status: number; body: unknown }): void {
  if (r.status >= 300) throw new Error(`setup: ${r.status} ${JSON.stringify(r.body)}`);
}

async function run(storage: Storage, checks: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'overt-bench-relay-'));
  const r = await startRelay(storage, dir, checks);
  const children: ReturnType<typeof fork>[] = [];
  try {
    // Devices: process p hosts senders s-p-i, and the recipients of process p-1's senders.
    const pairs: { sender: BenchDevice; recipient: BenchDevice }[][] = [];
    for (let p = 0; p < PROCESSES; p++) {
      const list = [];
      for (let i = 0; i < SENDERS_PER_PROCESS; i++)
        list.push({
          sender: await r.enrol(`us-${p}-${i}`, `s-${p}-${i}`),
          recipient: await r.enrol(`ur-${p}-${i}`, `r-${p}-${i}`),
        });
      pairs.push(list);
    }
    const ready: Promise<void>[] = [];
    const done: Promise<DoneMessage>[] = [];
    for (let p = 0; p < PROCESSES; p++) {
      const child = fork(join(ROOT, 'bench/relay/capacity-client.ts'), {
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.test.json') },
        serialization: 'advanced',
      });
      children.push(child);
      const messages: unknown[] = [];
      const waiters = new Set<() => void>();
      let exited: number | null | undefined;
      child.on('message', (m) => {
        messages.push(m);
        for (const w of waiters) w();
      });
      child.on('exit', (code) => {
        exited = code;
        for (const w of waiters) w();
      });
      const next = async (type: string) => {
        for (;;) {
          const i = messages.findIndex((m) => (m as { type: string }).type === type);
          if (i >= 0) return messages.splice(i, 1)[0];
          if (exited !== undefined) throw new Error(`client ${p} exited (${exited})`);
          await new Promise<void>((res) => {
            const w = () => {
              waiters.delete(w);
              res();
            };
            waiters.add(w);
          });
        }
      };
      const setup: SetupMessage = {
        type: 'setup',
        url: r.url,
        orgId: ORG,
        epoch: r.epoch,
        epochKey: r.epochKey,
        senders: pairs[p]!,
        recipients: pairs[(p + PROCESSES - 1) % PROCESSES]!.map((x) => x.recipient),
        messagesPerSender: MESSAGES_PER_SENDER,
        payloadBytes: PAYLOAD_BYTES,
        window: WINDOW,
      };
      await next('hello');
      child.send(setup);
      ready.push(next('ready').then(() => {}));
      done.push(next('done') as Promise<DoneMessage>);
    }
    await Promise.all(ready);
    await r.relay.ingest.warm();
    const stats0 = r.relay.ingest.stats();
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    for (const c of children) c.send({ type: 'go' });
    const results = await Promise.all(done);
    const cpu = process.cpuUsage(cpu0);
    const wallMs = performance.now() - wall0;
    const stats = r.relay.ingest.stats();

    const sentAt = new Map<string, number>();
    for (const x of results) for (const [id, t] of x.sent) sentAt.set(id, t);
    const acks = results.flatMap((x) => x.acked);
    const deliveries = results.flatMap((x) => x.delivered);
    const start = Math.min(...sentAt.values());
    const lastAck = Math.max(...acks.map(([, t]) => t));
    const lastDelivery = Math.max(...deliveries.map(([, t]) => t));
    const latencies = deliveries.map(([id, t]) => t - sentAt.get(id)!);
    const ackLatencies = acks.map(([id, t]) => t - sentAt.get(id)!);
    const stored = stats.stored - stats0.stored;
    const checked = stats.capsuleChecks - stats0.capsuleChecks;
    const errors: Record<string, number> = {};
    for (const x of results) for (const [k, v] of Object.entries(x.errors)) errors[k] = (errors[k] ?? 0) + v;
    return {
      storage: storage.name,
      capsule_checks: checks ? 'on (worker threads)' : 'OFF (unsafeSkipCapsuleChecks baseline)',
      messages: sentAt.size,
      accepted_per_s: round((acks.length / (lastAck - start)) * 1000),
      stored_per_s: round((stored / (lastAck - start)) * 1000),
      delivered_per_s: round((deliveries.length / (lastDelivery - start)) * 1000),
      latency_ms: {
        send_to_delivery_p50: round(quantile(latencies, 0.5)),
        send_to_delivery_p99: round(quantile(latencies, 0.99)),
        send_to_answer_p50: round(quantile(ackLatencies, 0.5)),
        send_to_answer_p99: round(quantile(ackLatencies, 0.99)),
      },
      delivered: deliveries.length,
      delivered_with_inline_envelope: results.reduce((a, x) => a + x.inlineEnvelopes, 0),
      refused: errors,
      transactions: stats.transactions - stats0.transactions,
      messages_per_transaction: round(stored / Math.max(1, stats.transactions - stats0.transactions)),
      relay_process_cpu_ms_per_message: round((cpu.user + cpu.system) / 1000 / Math.max(1, stored), 3),
      worker_wall_ms_per_check_incl_cpu_wait:
        checked > 0 ? round((stats.capsuleBusyMs - stats0.capsuleBusyMs) / checked, 3) : 0,
      window_ms: round(wallMs),
    };
  } finally {
    for (const c of children) c.kill();
    await r.stop();
    await storage.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  const storages: (() => Storage)[] = [() => sqlite(mkdtempSync(join(tmpdir(), 'overt-bench-db-')))];
  if (url !== undefined && url !== '' && !sqliteOnly) storages.push(() => postgres(url));
  const runs: Awaited<ReturnType<typeof run>>[] = [];
  for (const make of storages)
    for (const checks of modes) {
      console.error(`bench relay/capacity: ${make().name}, checks ${checks ? 'on' : 'off'} …`);
      runs.push(await run(make(), checks));
    }
  const by = (s: string, on: boolean) =>
    runs.find((x) => x.storage === s && x.capsule_checks.startsWith(on ? 'on' : 'OFF'));
  const ratios = Object.fromEntries(
    [...new Set(runs.map((x) => x.storage))].map((s) => {
      const on = by(s, true);
      const off = by(s, false);
      if (on === undefined || off === undefined) return [s, {}];
      return [
        s,
        {
          delivered_on_over_off: round(on.delivered_per_s / off.delivered_per_s, 3),
          cpu_ms_per_message_added_by_checks: round(
            on.relay_process_cpu_ms_per_message - off.relay_process_cpu_ms_per_message,
            3,
          ),
        },
      ];
    }),
  );
  console.log(
    JSON.stringify(
      {
        suite: 'relay/capacity',
        quick,
        machine: { cpus: cpus().length, loadavg_1m_at_end: round(loadavg()[0]!, 2) },
        setup: {
          client_processes: PROCESSES,
          senders: PROCESSES * SENDERS_PER_PROCESS,
          messages_per_sender: MESSAGES_PER_SENDER,
          payload_bytes: PAYLOAD_BYTES,
          window_per_connection: WINDOW,
          capsule_workers: WORKERS,
          group_size: 2,
        },
        targets: { sqlite_delivered_per_s_checks_off: 5000, sqlite_delivered_per_s_checks_on: 2000 },
        runs,
        ratios_same_run: ratios,
      },
      null,
      2,
    ),
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
