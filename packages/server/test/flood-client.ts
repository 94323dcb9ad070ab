/**
 * An abusive mailbox-socket client, in a process of its own so that the relay's memory can be measured apart from
 * the flood (relay-flood.test.ts). It authenticates with the auth frame it is given, then writes every send frame of
 * a file `rounds` times as fast as the relay reads them, each with its own request id (round · 65536 + index + 1),
 * without waiting for any answer. It prints a JSON line `{"blocked":true}` the first time the relay reads slower than
 * it writes; once every frame is answered (or the socket closes) it prints `{"answers", "closed"}`, the answers by
 * request id, and exits.
 *
 * Usage: node --import tsx flood-client.ts <config.json>, config `{url, auth, framesPath, rounds}`; the frames file is
 * a sequence of u32 length ‖ send frame (relay.md §6.8). It queues at most 8 MiB itself: the rest of the flood waits in
 * the kernel's socket buffers, as fast as the relay reads.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

interface Config {
  readonly url: string;
  readonly auth: Record<string, unknown>;
  readonly framesPath: string;
  readonly rounds: number;
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as Config;
const file = readFileSync(config.framesPath);
const frames: Buffer[] = [];
for (let at = 0; at < file.length; ) {
  const n = file.readUInt32BE(at);
  frames.push(file.subarray(at + 4, at + 4 + n));
  at += 4 + n;
}
const total = frames.length * config.rounds;
const answers: Record<number, unknown> = {};
let answered = 0;
let blocked = false;

const ws = new WebSocket(`${config.url.replace(/^http/, 'ws')}/v1/ws`);
const done = (code: number) => {
  process.stdout.write(`${JSON.stringify({ answers, closed: code })}\n`, () => process.exit(0));
};
/** Writes every frame; waits only while this process itself has more than 8 MiB queued (its own memory). */
async function flood(): Promise<void> {
  for (let round = 0; round < config.rounds; round++)
    for (const [i, f] of frames.entries()) {
      const copy = Buffer.from(f);
      copy.writeUInt32BE(round * 65536 + i + 1, 1);
      const written = new Promise<void>((resolve) => ws.send(copy, () => resolve()));
      if (ws.bufferedAmount > 8 * 1024 * 1024) {
        // The relay is not reading as fast as this writes: say so once (the test waits for it).
        if (!blocked) process.stdout.write(`${JSON.stringify({ blocked: true })}\n`);
        blocked = true;
        await written;
      }
    }
}

ws.on('open', () => ws.send(JSON.stringify(config.auth)));
ws.on('close', (code) => done(code));
ws.on('message', (data) => {
  const frame = JSON.parse(String(data)) as { type: string; id?: number };
  if (frame.type === 'ready') {
    void flood();
    return;
  }
  if (frame.id === undefined) return;
  answers[frame.id] = frame;
  if (++answered === total) ws.close();
});
