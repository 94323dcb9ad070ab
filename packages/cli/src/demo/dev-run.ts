import { runAttacks } from './attacks.js';

const t0 = Date.now();
const r = await runAttacks({
  relayUrl: process.argv[2]!,
  dataDir: process.argv[3]!,
  onResult: (x) =>
    console.log(
      `${((Date.now() - t0) / 1000).toFixed(1)}s ${x.id} ${x.outcome}: ${x.attempt}\n      -> ${x.seen}`,
    ),
});
console.log(r.length, 'results');
process.exit(0);
