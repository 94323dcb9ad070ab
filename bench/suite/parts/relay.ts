/**
 * The relay capacity part, wrapping bench/relay/capacity.ts: delivered messages/s, p50/p99 send → delivery and
 * the relay process's CPU per message, with core's ingest checks on, against the same relay with the checks off
 * measured in the same run (the baseline). Each repeat is a whole run (3, or 2 in --quick): the spread is
 * over runs. SQLite always; PostgreSQL too when DATABASE_URL is set.
 */
import { baselineOf, FigureSet } from '../figures.js';
import { commandOf, type Part, repeatScript } from '../part.js';

interface CapacityRun {
  storage: 'sqlite' | 'postgres';
  capsule_checks: string;
  delivered_per_s: number;
  delivered: number;
  messages: number;
  latency_ms: { send_to_delivery_p50: number; send_to_delivery_p99: number };
  relay_process_cpu_ms_per_message: number;
}
interface CapacityDoc {
  setup: Record<string, number>;
  runs: CapacityRun[];
}

export const relayCapacity: Part = {
  name: 'relay/capacity',
  description:
    'relay delivered msgs/s, p50/p99 latency, CPU per message; checks on vs off (SQLite, PostgreSQL)',
  async run(ctx) {
    const docs = (await repeatScript(
      'bench/relay/capacity.ts',
      ctx.quick ? ['--quick'] : [],
      ctx.quick ? 2 : 3,
    )) as CapacityDoc[];
    const set = new FigureSet(this.name, commandOf(this.name));
    const storages = [...new Set(docs.flatMap((d) => d.runs.map((r) => r.storage)))];
    for (const storage of storages) {
      const pick = (on: boolean) =>
        docs.flatMap((d) =>
          d.runs.filter((r) => r.storage === storage && r.capsule_checks.startsWith(on ? 'on' : 'OFF')),
        );
      const off = pick(false);
      const on = pick(true);
      const lost = [...off, ...on].filter((r) => r.delivered !== r.messages).length;
      if (lost > 0) throw new Error(`${storage}: ${lost} runs did not deliver every message`);
      const db = storage === 'sqlite' ? 'SQLite' : 'PostgreSQL';
      const offName = `${db}, checks off`;
      const offRate = off.map((r) => r.delivered_per_s);
      set.add({
        name: `delivered msgs/s, ${offName}`,
        samples: offRate,
        unit: 'msgs/s',
        higher_is_better: true,
        baseline: null,
        target: storage === 'sqlite' ? 5000 : null,
        note: 'the baseline of the checks-on figure; the peers (Prosody, ejabberd) are not measured yet (issue #13 stage 4)',
      });
      set.add({
        name: `delivered msgs/s, ${db}, checks on`,
        samples: on.map((r) => r.delivered_per_s),
        unit: 'msgs/s',
        higher_is_better: true,
        baseline: { ...baselineOf(`delivered msgs/s, ${offName}`, offRate), unit: 'msgs/s' },
        target: storage === 'sqlite' ? 2000 : null,
      });
      for (const [mode, runs] of [
        ['checks off', off],
        ['checks on', on],
      ] as const) {
        for (const p of ['p50', 'p99'] as const) {
          const key = `send_to_delivery_${p}` as const;
          set.ms(
            `send → delivery ${p} at full load, ${db}, ${mode}`,
            runs.map((r) => r.latency_ms[key]),
            mode === 'checks on'
              ? baselineOf(
                  `${p}, ${offName}`,
                  off.map((r) => r.latency_ms[key]),
                  'ms',
                )
              : null,
            { note: 'closed loop, 128 unanswered frames per connection: latency ≈ in-flight / throughput' },
          );
        }
      }
      set.ms(
        `relay process CPU per message, ${db}, checks on`,
        on.map((r) => r.relay_process_cpu_ms_per_message),
        baselineOf(
          `CPU per message, ${offName}`,
          off.map((r) => r.relay_process_cpu_ms_per_message),
          'ms',
        ),
      );
    }
    return {
      figures: set.figures,
      raw: docs.length === 1 ? docs[0] : { runs: docs },
      note: `${docs.length} runs; each run measures checks off, then on`,
    };
  },
};
