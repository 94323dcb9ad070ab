/**
 * The relay side by side with the XMPP servers a self-hosting organisation would otherwise run (issue #13):
 * Prosody 0.12 and ejabberd 23.01 from Debian's packages (bench/peers/setup.sh installs, configures, starts and
 * stops them: 127.0.0.1, no TLS, no rate limits, offline storage on, SQLite, every message archived or — the
 * ceiling of plain routing — no archive), driven by bench/peers/xmpp-load.ts with the shape of the relay's
 * capacity benchmark run in the same part (bench/relay/capacity.ts, SQLite, checks on and off): the same number
 * of senders and recipients, messages per sender, window and 200-byte payload, one delivery per message.
 * Recipients online only; the offline case (stored, then drained) is not measured yet.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baselineOf, FigureSet } from '../figures.js';
import { commandOf, type Part, ROOT, runScript } from '../part.js';

interface Load {
  delivered: number;
  messages: number;
  delivered_per_s: number;
  latency_ms: { p50: number; p99: number };
  server_cpu_ms_per_message: number | null;
}
interface CapacityRun {
  capsule_checks: string;
  delivered_per_s: number;
  latency_ms: { send_to_delivery_p50: number; send_to_delivery_p99: number };
  relay_process_cpu_ms_per_message: number;
}

const SETUP = join(ROOT, 'bench/peers/setup.sh');
const setup = (...args: string[]) => execFileSync('bash', [SETUP, ...args], { encoding: 'utf8' }).trim();

export const peers: Part = {
  name: 'peers',
  description: 'the relay vs Prosody 0.12 and ejabberd 23.01 (archive on and off), same load shape',
  quickByDefault: false,
  async run(ctx) {
    // The capacity benchmark's shape: --quick 2 processes × 3 senders × 150 messages; full 4 × 6 × 500.
    const pairs = ctx.quick ? 6 : 24;
    const messages = ctx.quick ? 150 : 500;
    ctx.log(setup('install').replace(/\n/g, ', '));
    const relay = (await runScript('bench/relay/capacity.ts', [
      ...(ctx.quick ? ['--quick'] : []),
      '--sqlite-only',
    ])) as { runs: CapacityRun[] };
    const on = relay.runs.find((r) => r.capsule_checks.startsWith('on'))!;
    const off = relay.runs.find((r) => r.capsule_checks.startsWith('OFF'))!;
    const set = new FigureSet(this.name, commandOf(this.name));
    const loads: Record<string, Load> = {};
    let port = 15300;
    for (const server of ['prosody', 'ejabberd'] as const)
      for (const archive of [true, false]) {
        const dir = mkdtempSync(join(tmpdir(), `overt-bench-${server}-`));
        const label = `${server === 'prosody' ? 'Prosody' : 'ejabberd'}, archive ${archive ? 'on' : 'off'}`;
        ctx.log(`${label} …`);
        port++;
        try {
          setup('start', server, dir, String(port), ...(archive ? [] : ['--no-archive']), String(2 * pairs));
          const pid = setup('pid', server, dir);
          loads[label] = (await runScript('bench/peers/xmpp-load.ts', [
            '--port',
            String(port),
            '--pairs',
            String(pairs),
            '--messages',
            String(messages),
            '--window',
            '128',
            '--server-pid',
            pid,
          ])) as Load;
        } finally {
          try {
            setup('stop', server, dir);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        }
      }
    const rate = (
      name: string,
      samples: number,
      baseline: ReturnType<typeof baselineOf> | null,
      note?: string,
    ) => set.add({ name, samples, unit: 'msgs/s', higher_is_better: true, baseline, note });
    rate('Overt relay, checks on, SQLite: delivered msgs/s', on.delivered_per_s, null);
    rate('Overt relay, checks off, SQLite: delivered msgs/s', off.delivered_per_s, null);
    for (const [label, l] of Object.entries(loads)) {
      if (l.delivered !== l.messages) throw new Error(`${label}: ${l.delivered}/${l.messages} delivered`);
      rate(`${label}: delivered msgs/s`, l.delivered_per_s, null);
      set.ms(`${label}: send → delivery p50`, l.latency_ms.p50, null);
      set.ms(`${label}: send → delivery p99`, l.latency_ms.p99, null);
      if (l.server_cpu_ms_per_message !== null)
        set.ms(`${label}: server CPU per message`, l.server_cpu_ms_per_message, null);
      // The ratio Overt / peer: the relay (checks on, every envelope persisted) against this peer.
      rate(
        `Overt relay (checks on) against ${label}`,
        on.delivered_per_s,
        { ...baselineOf(`${label}: delivered msgs/s`, l.delivered_per_s), unit: 'msgs/s' },
        'ratio = Overt / peer, same run, same load shape',
      );
    }
    set.ms('Overt relay, checks on: send → delivery p50', on.latency_ms.send_to_delivery_p50, null);
    set.ms('Overt relay, checks on: send → delivery p99', on.latency_ms.send_to_delivery_p99, null);
    set.ms(
      'Overt relay, checks on: relay process CPU per message',
      on.relay_process_cpu_ms_per_message,
      null,
    );
    return {
      figures: set.figures,
      raw: { relay, peers: loads, shape: { pairs, messages, window: 128, body_bytes: 200 } },
      note: `${pairs} senders × ${messages} messages, window 128, 200 B; recipients online (offline not measured)`,
    };
  },
};
