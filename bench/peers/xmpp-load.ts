/**
 * XMPP load generator for the peers of issue #13 (bench/peers/setup.sh starts them): the shape of the relay's
 * capacity benchmark (bench/relay/capacity-main.ts) — S senders, each with its own recipient on another
 * connection, M messages of a 200-byte body each, at most W messages in flight per sender (sent, not yet
 * delivered) — over plain XMPP c2s on 127.0.0.1 (no TLS, SASL PLAIN). Reports delivered messages/s (first send
 * to last delivery), p50/p99 send → delivery, and the server's CPU per message from /proc/<pid>/stat.
 *
 *   npx tsx bench/peers/xmpp-load.ts --port P [--pairs S] [--messages M] [--window W] [--server-pid PID]
 *     [--timeout-s T]
 *
 * A minimal client of its own (stream, SASL PLAIN, resource binding, presence, <message/>): enough for a load
 * generator, not a general XMPP library. Users u0 … u{2S−1} with password "pw" on bench.localhost (setup.sh).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

const HOST = 'bench.localhost';
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const PORT = arg('--port', 5222);
const PAIRS = arg('--pairs', 6);
const MESSAGES = arg('--messages', 150);
const WINDOW = arg('--window', 128);
const SERVER_PID = arg('--server-pid', 0);
const TIMEOUT_S = arg('--timeout-s', 900);
const BODY = 'x'.repeat(200);

const header = `<?xml version='1.0'?><stream:stream to='${HOST}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`;

class Client {
  private socket!: Socket;
  private buffer = '';
  private waiters: { pattern: RegExp; resolve: () => void }[] = [];
  onMessage: (id: string) => void = () => {};

  constructor(readonly user: string) {}

  async connect(): Promise<void> {
    this.socket = connect(PORT, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.setEncoding('utf8');
    this.socket.on('data', (d: string) => this.data(d));
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.socket.write(header);
    await this.until(/<\/stream:features>/);
    const auth = Buffer.from(`\0${this.user}\0pw`).toString('base64');
    this.socket.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${auth}</auth>`);
    await this.until(/<success/);
    this.buffer = '';
    this.socket.write(header);
    await this.until(/<\/stream:features>/);
    this.socket.write(
      "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>",
    );
    await this.until(/id=['"]bind['"][^>]*>[\s\S]*?<\/iq>|<iq[^>]*id=['"]bind['"][^>]*\/>/);
    this.socket.write("<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    await this.until(/id=['"]sess['"]/);
    this.buffer = '';
  }

  presence(): void {
    this.socket.write('<presence/>');
  }

  send(to: string, id: string): void {
    this.socket.write(`<message to='${to}@${HOST}' id='${id}' type='chat'><body>${BODY}</body></message>`);
  }

  close(): void {
    this.socket.end('</stream:stream>');
  }

  private until(pattern: RegExp): Promise<void> {
    if (pattern.test(this.buffer)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pattern, resolve }));
  }

  private data(d: string): void {
    this.buffer += d;
    if (this.buffer.includes('<failure')) throw new Error(`${this.user}: authentication failed`);
    for (const w of [...this.waiters])
      if (w.pattern.test(this.buffer)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    // Complete <message> stanzas: take their id, drop them from the buffer.
    for (;;) {
      const end = this.buffer.indexOf('</message>');
      if (end < 0) break;
      const stanza = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 10);
      const open = stanza.lastIndexOf('<message');
      const id = /\bid=['"]([^'"]+)['"]/.exec(stanza.slice(open))?.[1];
      if (id?.startsWith('m')) this.onMessage(id);
    }
  }
}

function cpuMs(pid: number): number {
  if (pid <= 0) return Number.NaN;
  // utime and stime, fields 14 and 15 of /proc/<pid>/stat (after the parenthesised name), in clock ticks.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};

const senders = Array.from({ length: PAIRS }, (_, i) => new Client(`u${i}`));
const recipients = Array.from({ length: PAIRS }, (_, i) => new Client(`u${PAIRS + i}`));
await Promise.all([...senders, ...recipients].map((c) => c.connect()));
for (const c of [...senders, ...recipients]) c.presence();
await new Promise((r) => setTimeout(r, 300));

const sentAt = new Map<string, number>();
const latencies: number[] = [];
let delivered = 0;
let lastDelivery = 0;
const total = PAIRS * MESSAGES;
const done = new Promise<void>((resolve) => {
  senders.forEach((sender, p) => {
    let sent = 0;
    let inFlight = 0;
    const pump = () => {
      while (inFlight < WINDOW && sent < MESSAGES) {
        const id = `m${p}-${sent++}`;
        sentAt.set(id, performance.now());
        inFlight++;
        sender.send(`u${PAIRS + p}`, id);
      }
    };
    recipients[p]!.onMessage = (id) => {
      const t = performance.now();
      const s = sentAt.get(id);
      if (s === undefined) return;
      sentAt.delete(id);
      latencies.push(t - s);
      lastDelivery = t;
      inFlight--;
      if (++delivered === total) resolve();
      pump();
    };
    setImmediate(pump);
  });
});
const cpu0 = cpuMs(SERVER_PID);
const t0 = performance.now();
const timeout = setTimeout(() => {
  console.error(`xmpp-load: ${delivered}/${total} delivered after ${TIMEOUT_S} s`);
  process.exit(1);
}, TIMEOUT_S * 1000);
await done;
clearTimeout(timeout);
const cpu = cpuMs(SERVER_PID) - cpu0;
for (const c of [...senders, ...recipients]) c.close();
console.log(
  JSON.stringify({
    port: PORT,
    pairs: PAIRS,
    messages: total,
    window: WINDOW,
    body_bytes: BODY.length,
    delivered,
    delivered_per_s: Math.round((delivered / (lastDelivery - t0)) * 10000) / 10,
    latency_ms: {
      p50: Math.round(quantile(latencies, 0.5) * 10) / 10,
      p99: Math.round(quantile(latencies, 0.99) * 10) / 10,
    },
    server_cpu_ms_per_message: Number.isNaN(cpu) ? null : Math.round((cpu / delivered) * 1000) / 1000,
  }),
);
process.exit(0);
