/**
 * The process that log-service-crash.test.ts kills: a sequencer appending under load, run with tsx in a child
 * process. Not part of the service API.
 *
 * It records, with one write(2) each (so a SIGKILL cannot leave half a record in the kernel's page cache):
 *   - every checkpoint it signs, the moment the signature exists (step checkpoint-signed), to CRASH_SIGNED;
 *   - every acknowledged append (index and entry bytes), the moment its promise resolves, to CRASH_ACKS.
 * With CRASH_STEP and CRASH_AT it SIGKILLs itself at the CRASH_AT-th occurrence of that sequencer step, which puts
 * a crash exactly between two steps; without them the parent kills it at a random moment. It never stops on its
 * own before a 30-second safety limit, after which it exits (so a failed test never leaves it running).
 */
import { randomBytes } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import { parseSignerKey } from '../note.js';
import { Sequencer, type SequencerEvent } from './sequencer.js';
import type { LogStorage } from './storage.js';

const env = process.env;
const origin = env.CRASH_ORIGIN!;
const key = parseSignerKey(env.CRASH_KEY!);
const signedFd = openSync(env.CRASH_SIGNED!, 'a');
const acksFd = openSync(env.CRASH_ACKS!, 'a');
const crashStep = env.CRASH_STEP;
let crashIn = Number(env.CRASH_AT ?? '0');
const writers = 8;

function onStep(e: SequencerEvent): void {
  if (e.step === 'checkpoint-signed')
    writeSync(signedFd, `${JSON.stringify({ size: e.size, note: e.note })}\n`);
  if (e.step === crashStep && --crashIn === 0) process.kill(process.pid, 'SIGKILL');
}

// Only the driver in use is loaded: every restart pays for its imports.
const storage: LogStorage =
  env.CRASH_PG_URL !== undefined
    ? await (await import('./postgres-storage.js')).openPostgresStorage({
        connectionString: env.CRASH_PG_URL,
        schema: env.CRASH_PG_SCHEMA!,
      })
    : (await import('./sqlite-storage.js')).openSqliteStorage({ path: env.CRASH_DB! });
const seq = await Sequencer.start({ storage, origin, key, maxBatch: 256, onStep });
writeSync(1, `ready ${seq.checkpoint.size}\n`);

let appended = 0;

async function writer(): Promise<void> {
  for (;;) {
    appended++;
    const entry = randomBytes(16 + (appended % 64));
    const { index } = await seq.append(entry);
    writeSync(acksFd, `${index} ${entry.toString('hex')}\n`);
    // A little pacing keeps the log to a few thousand entries per run, so the checks stay fast.
    await new Promise((r) => setTimeout(r, 1));
  }
}

setTimeout(() => process.exit(3), 30_000);
await Promise.all(Array.from({ length: writers }, writer));
