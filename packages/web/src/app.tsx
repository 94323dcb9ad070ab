/**
 * The public transparency dashboard (no login): every number on it comes from the log, verified in this page
 * (verify.ts). A failed check is shown in red with its check ID, and nothing else is shown as if it were true.
 */
import type { AccessStats } from '@overt/client';
import { toBase64 } from '@overt/core';
import { useEffect, useState } from 'preact/hooks';
import { BarChart } from './chart.js';
import {
  type Dashboard,
  type EntryLookup,
  loadDashboard,
  logFetch,
  lookupEntry,
  WebCheckError,
} from './verify.js';

type State =
  | { readonly kind: 'loading' }
  | { readonly kind: 'failed'; readonly error: WebCheckError }
  | { readonly kind: 'ok'; readonly d: Dashboard };

function iso(ms: number): string {
  return ms <= 8_640_000_000_000_000 ? new Date(ms).toISOString().replace('.000Z', 'Z') : `${ms} ms`;
}

function failure(e: unknown): WebCheckError {
  return e instanceof WebCheckError ? e : new WebCheckError('WEB_INTERNAL', 'WEB-0', String(e));
}

function Failure({ error, what }: { error: WebCheckError; what: string }) {
  return (
    <div class="fail" role="alert" data-testid="failure" data-check={error.check}>
      <strong>
        ✗ {what} failed check {error.check}
      </strong>
      <div>
        <code>{error.code}</code>: {error.detail}
      </div>
    </div>
  );
}

function CheckpointPanel({ d }: { d: Dashboard }) {
  const cp = d.checkpoint;
  return (
    <section aria-labelledby="cp-h">
      <h2 id="cp-h">Latest checkpoint</h2>
      <div class="ok" data-testid="checkpoint-status">
        ✓ Checkpoint verified in this page: signed by the log, cosigned by{' '}
        <span data-testid="cosig-count">{cp.cosignatures.length}</span> witness
        {cp.cosignatures.length === 1 ? '' : 'es'} (quorum {d.anchors.policy.witnesses.quorum})
      </div>
      <div class="ok" data-testid="consistency">
        {d.firstVisit
          ? '✓ First visit from this browser: this checkpoint is saved here, and the next visit proves the log only grew'
          : `✓ consistent with the checkpoint seen before (size ${d.previousSize} → ${cp.size})`}
      </div>
      <dl class="kv">
        <dt>origin</dt>
        <dd>{cp.origin}</dd>
        <dt>size</dt>
        <dd data-testid="size">{cp.size}</dd>
        <dt>root</dt>
        <dd>
          <code data-testid="root">{toBase64(cp.rootHash)}</code>
        </dd>
        <dt>log key</dt>
        <dd>{cp.logKey.name}</dd>
        <dt>newest quorum age</dt>
        <dd>{d.ageSeconds === undefined ? 'not checked' : `${d.ageSeconds} s`}</dd>
        <dt>verified in</dt>
        <dd data-testid="verify-ms">{Math.round(d.verifyMs)} ms</dd>
      </dl>
      <ul class="cosigs" data-testid="cosigs">
        {cp.cosignatures.map((c) => (
          <li key={c.key.name}>
            ✓ {c.key.name} at {iso(c.timestamp * 1000)}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Totals({ s }: { s: AccessStats }) {
  const t = s.totals;
  const cells: [string, number, string][] = [
    ['requests', t.requests, 'requests'],
    ['approvals', t.approvals, 'approvals'],
    ['denials', t.denials, 'denials'],
    ['executions', t.executions, 'executions'],
    ['envelopes released', t.envelopesReleased, 'released'],
    ['refusals', t.refusals, 'refusals'],
    ['extensions', t.extensions, 'extensions'],
    ['unseals', t.unseals, 'unseals'],
    ['shreds', t.shreds, 'shreds'],
  ];
  return (
    <section aria-labelledby="tot-h">
      <h2 id="tot-h">Access totals</h2>
      <div class="cards">
        {cells.map(([label, n, id]) => (
          <div class="card" key={id}>
            <div class="n" data-testid={`total-${id}`}>
              {n}
            </div>
            <div>{label}</div>
          </div>
        ))}
      </div>
      <p class="muted">
        Entries that count for nothing: {t.invalid} invalid, {t.repeats} repeated.
      </p>
    </section>
  );
}

const SERIES = [
  { key: 'requests', label: 'requests' },
  { key: 'approvals', label: 'approvals' },
  { key: 'denials', label: 'denials' },
  { key: 'envelopesReleased', label: 'envelopes released' },
] as const;

function Charts({ s }: { s: AccessStats }) {
  const months = Object.entries(s.byMonth);
  const requesters = Object.entries(s.byRequester);
  return (
    <section aria-labelledby="ch-h">
      <h2 id="ch-h">Per month and per requester</h2>
      <div class="charts">
        <BarChart
          title="Per month (UTC)"
          groups={months.map(([m, r]) => ({ label: m, values: SERIES.map((x) => r[x.key]) }))}
          series={SERIES.map((x) => x.label)}
        />
        <BarChart
          title="Per requester"
          groups={requesters.map(([id, r]) => ({ label: id, values: SERIES.map((x) => r[x.key]) }))}
          series={SERIES.map((x) => x.label)}
        />
      </div>
    </section>
  );
}

function Seals({ s, d }: { s: AccessStats; d: Dashboard }) {
  return (
    <section aria-labelledby="se-h">
      <h2 id="se-h">Seals</h2>
      <p data-testid="seals">
        {s.seals.sealed} sealed ({s.seals.due.length} due, {s.seals.overdue.length} overdue),{' '}
        {s.seals.unsealed} unsealed
      </p>
      {s.seals.overdue.length > 0 && (
        <ul class="warnlist" data-testid="overdue">
          {s.seals.overdue.map((o) => (
            <li key={o.requestId}>
              ⚠ overdue: request <code>{o.requestId}</code> sealed until {iso(o.sealUntil)}
            </li>
          ))}
        </ul>
      )}
      {s.seals.due.length > 0 && (
        <ul data-testid="due">
          {s.seals.due.map((o) => (
            <li key={o.requestId}>
              due: request <code>{o.requestId}</code> at {iso(o.sealUntil)}
            </li>
          ))}
        </ul>
      )}
      <h3>Unsealed requests</h3>
      {d.unsealedNotOnLog.length > 0 && (
        <div class="fail" role="alert">
          ✗ The relay lists {d.unsealedNotOnLog.length} unsealed request(s) that are not unsealed on the
          verified log: {d.unsealedNotOnLog.join(', ')}
        </div>
      )}
      {d.unsealed.length === 0 ? (
        <p class="muted">No request has been unsealed yet.</p>
      ) : (
        <div class="scroll">
          <table data-testid="unsealed">
            <thead>
              <tr>
                <th>request</th>
                <th>requester</th>
                <th>legal basis</th>
                <th>justification</th>
                <th>case</th>
                <th>filed</th>
                <th>unsealed</th>
                <th>by</th>
                <th>approvals / denials</th>
              </tr>
            </thead>
            <tbody>
              {d.unsealed.map((u) => (
                <tr key={u.requestId}>
                  <td>
                    <code>{u.requestId}</code> (entry {u.index})
                  </td>
                  <td>{u.requester}</td>
                  <td>{u.legalBasis}</td>
                  <td>{u.justification}</td>
                  <td>{u.caseReference}</td>
                  <td>{iso(u.filedAt)}</td>
                  <td>{iso(u.unsealedAt)}</td>
                  <td>{u.publisher}</td>
                  <td>
                    {u.approvals} / {u.denials}
                    {u.executed ? ', executed' : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h3>Shredded epochs</h3>
      {s.epochs.length === 0 ? (
        <p class="muted">No epoch has a shred yet.</p>
      ) : (
        <ul data-testid="epochs">
          {s.epochs.map((e) => (
            <li key={e.epoch}>
              epoch {e.epoch}: {e.shredded ? 'shredded' : 'not shredded'} (shreds by trustee(s){' '}
              {e.shreddedBy.join(', ')})
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Search({ d }: { d: Dashboard }) {
  const [text, setText] = useState('');
  const [result, setResult] = useState<
    { kind: 'ok'; e: EntryLookup } | { kind: 'failed'; error: WebCheckError } | { kind: 'busy' } | null
  >(null);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setResult({ kind: 'busy' });
    try {
      const e = await lookupEntry(logFetch, d.anchors.logUrl, d.checkpoint, Number(text.trim()));
      setResult({ kind: 'ok', e });
    } catch (e) {
      setResult({ kind: 'failed', error: failure(e) });
    }
  };
  return (
    <section aria-labelledby="sr-h">
      <h2 id="sr-h">Entry by index</h2>
      <form onSubmit={submit} class="search">
        <label for="entry-index">Entry index (0 to {d.checkpoint.size - 1})</label>
        <input
          id="entry-index"
          data-testid="entry-index"
          inputMode="numeric"
          value={text}
          onInput={(e) => setText((e.target as HTMLInputElement).value)}
        />
        <button type="submit" data-testid="entry-go">
          Show with inclusion proof
        </button>
      </form>
      {result?.kind === 'busy' && <p aria-live="polite">Verifying…</p>}
      {result?.kind === 'failed' && <Failure error={result.error} what="The entry lookup" />}
      {result?.kind === 'ok' && (
        <div data-testid="entry">
          <div class="ok" data-testid="inclusion">
            ✓ inclusion proof verified: entry {result.e.index} is in the tree of size {d.checkpoint.size} (
            {result.e.proofHashes} proof hashes)
          </div>
          <dl class="kv">
            <dt>type</dt>
            <dd data-testid="entry-type">{result.e.type}</dd>
            <dt>length</dt>
            <dd>{result.e.bytes} bytes</dd>
            <dt>leaf hash</dt>
            <dd>
              <code>{result.e.leafHash}</code>
            </dd>
            <dt>first bytes</dt>
            <dd>
              <code class="wrap">{result.e.hex}</code>
            </dd>
          </dl>
        </div>
      )}
    </section>
  );
}

export function App() {
  const [state, setState] = useState<State>({ kind: 'loading' });
  useEffect(() => {
    loadDashboard({ base: location.href, fetch: logFetch, store: localStorage }).then(
      (d) => setState({ kind: 'ok', d }),
      (e) => setState({ kind: 'failed', error: failure(e) }),
    );
  }, []);
  return (
    <>
      <header>
        <h1>Overt transparency log</h1>
        <p class="muted">
          Everything below is checked in this page against the log's key and its witnesses: the relay that
          serves it is not trusted.
        </p>
      </header>
      <main>
        {state.kind === 'loading' && <p aria-live="polite">Verifying the log…</p>}
        {state.kind === 'failed' && <Failure error={state.error} what="Verifying the log" />}
        {state.kind === 'ok' && (
          <>
            <CheckpointPanel d={state.d} />
            <Totals s={state.d.stats} />
            <Charts s={state.d.stats} />
            <Seals s={state.d.stats} d={state.d} />
            <Search d={state.d} />
          </>
        )}
      </main>
    </>
  );
}
