/**
 * Parts wrapping the client-side benchmarks: bench/mls/run.ts (ts-mls alone is the baseline) and
 * bench/relay/e2e.ts (one sender, a group of 10: the everyday cost of Overt's envelope and checks over ts-mls
 * alone with the same crypto provider — the "≤ +50%" target, as a cost ≤ 1.5 × the baseline's cost).
 */
import { type Baseline, baselineOf, FigureSet } from '../figures.js';
import { commandOf, type Part, runScript } from '../part.js';

type Subject = 'ts_mls_default' | 'ts_mls_overt_crypto' | 'overt';
interface MlsDoc {
  samples: Record<Subject, { encrypt: number[]; decrypt: number[]; commit: number[] }>;
}

const LABEL: Record<Subject, string> = {
  ts_mls_default: 'ts-mls alone, default crypto',
  ts_mls_overt_crypto: "ts-mls with Overt's crypto provider",
  overt: "Overt's MLS wrapper",
};

export const mls: Part = {
  name: 'mls',
  description: 'MLS application messages (encrypt, decrypt) and a commit adding 49 members, vs ts-mls alone',
  async run(ctx) {
    const doc = (await runScript('bench/mls/run.ts', ctx.quick ? ['--quick'] : [])) as MlsDoc;
    const set = new FigureSet(this.name, commandOf(this.name));
    const s = doc.samples;
    const base = {
      encrypt: baselineOf(`${LABEL.ts_mls_default}: encrypt`, s.ts_mls_default.encrypt),
      decrypt: baselineOf(`${LABEL.ts_mls_default}: decrypt`, s.ts_mls_default.decrypt),
      commit: baselineOf(`${LABEL.ts_mls_default}: commit adding 49`, s.ts_mls_default.commit, 'ms'),
    };
    for (const subject of Object.keys(LABEL) as Subject[]) {
      const isBase = subject === 'ts_mls_default';
      for (const op of ['encrypt', 'decrypt'] as const)
        set.rate(`${LABEL[subject]}: ${op} (81-byte payload)`, s[subject][op], isBase ? null : base[op]);
      set.ms(`${LABEL[subject]}: commit adding 49 members`, s[subject].commit, isBase ? null : base.commit);
    }
    return { figures: set.figures, raw: doc };
  },
};

interface E2eFigures {
  sender_us_per_message: number;
  recipient_us_per_message: number;
  latency_ms: { p50: number; p99: number };
}
interface E2eDoc {
  sizes: {
    payload_bytes: number;
    results: Record<'overt' | 'ts_mls' | 'ts_mls_default_crypto' | 'capsule_only', E2eFigures>;
    group_us_per_message_by_block: Record<string, number[]>;
  }[];
  through_relay?: {
    messages: number;
    latency_to_all_10_ms: { p50: number; p99: number };
    send_ms: { p50: number };
  };
}

export const relayE2e: Part = {
  name: 'relay/e2e',
  description: 'one sender, a group of 10: Overt send + receive vs ts-mls alone, 100 B / 1 KiB / 64 KiB',
  async run(ctx) {
    const doc = (await runScript('bench/relay/e2e.ts', ctx.quick ? ['--quick'] : [])) as E2eDoc;
    const set = new FigureSet(this.name, commandOf(this.name));
    for (const size of doc.sizes) {
      const b = size.group_us_per_message_by_block;
      const label =
        size.payload_bytes >= 1024 ? `${size.payload_bytes / 1024} KiB` : `${size.payload_bytes} B`;
      const base: Baseline = {
        ...baselineOf(`ts-mls alone (Overt's crypto provider), ${label}`, b.ts_mls!),
        unit: 'µs/msg',
      };
      const group = (series: string, name: string, target: number | null, note?: string) =>
        set.add({
          name: `${name}, ${label}: sender + 10 recipients, CPU per message`,
          samples: b[series]!,
          unit: 'µs/msg',
          higher_is_better: false,
          baseline: base,
          target,
          note,
        });
      group(
        'overt',
        'Overt send + receive',
        Math.round(base.value * 1.5),
        'target: at most +50% over ts-mls alone',
      );
      group('capsule_only', 'the TDH2 capsule alone (the floor)', null);
      group('ts_mls_default_crypto', 'ts-mls alone with its default crypto', null);
      const o = size.results.overt;
      const t = size.results.ts_mls;
      for (const p of ['p50', 'p99'] as const)
        set.ms(`Overt latency to all 10 (own CPUs), ${label}, ${p}`, o.latency_ms[p], {
          name: `ts-mls alone, ${label}, ${p}`,
          value: t.latency_ms[p],
          unit: 'ms',
        });
    }
    if (doc.through_relay) {
      const r = doc.through_relay;
      for (const p of ['p50', 'p99'] as const)
        set.ms(
          `through a real relay, 100 B, latency to all 10 (one event loop, wall clock), ${p}`,
          r.latency_to_all_10_ms[p],
          null,
          {
            note: `${r.messages} messages, one at a time; an upper bound: the 10 recipients share one process`,
          },
        );
    }
    return {
      figures: set.figures,
      raw: doc,
      note: 'spread: the group cost in 5 consecutive blocks of the interleaved messages',
    };
  },
};
