// REQ-2 (docs/spec/cli.md §8): `overt request status` believes nothing the relay says about a request unless the
// verified log holds it, byte for byte, at the index the relay gives, and it verifies. Over the client's real
// access case (a 2-of-3 policy, a request, two approvals, the relay's execution, two releases, all on a tiled log).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RequestView } from '@overt/client';
import { ClientError } from '@overt/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccessCaseFixture, buildAccessCase, relayKey } from '../../client/test/access-case.js';
import { orgKey } from '../../core/test/workflow-fixtures.js';
import { type CommandContext, UsageError } from './command.js';
import { checkStatus, DEFAULT_RELAY, lastIndexOf, type Org, relayOption } from './requester.js';

let fx: AccessCaseFixture;
let org: Org;
let honest: RequestView;
let requestId: Uint8Array;

beforeAll(async () => {
  fx = await buildAccessCase();
  org = {
    orgId: fx.policy.policy.orgId,
    // checkStatus reads the org key and the relay's execution key; the log anchors are the view's business.
    anchors: {
      adminKey: orgKey.publicKey,
      log: { origin: '', url: '', vkey: '', witnessVkeys: [], witnessQuorum: 1 },
    },
    accessKey: relayKey.publicKey,
    from: 'file',
  };
  requestId = fx.built.verified.request.requestId;
  const at = (type: number) =>
    fx.entries.flatMap((e, index) => (e[0] === type ? [{ body: e.subarray(1), index }] : []));
  const request = at(5)[0]!;
  const execution = at(7)[0]!;
  honest = {
    request: request.body,
    index: request.index,
    status: 'executed',
    decisions: at(6).map((d) => ({ decision: d.body, index: d.index })),
    execution: { execution: execution.body, index: execution.index },
    releases: at(8).map((r) => {
      const rel = fx.releases.find((x) => x.index === r.index)!;
      return { trustee: rel.trustee, batch: rel.batch, release: r.body, index: r.index };
    }),
    refusals: [],
  };
});

const view = () => ({ checkpoint: fx.checkpoint, entries: fx.entries });

function req2(f: () => unknown): void {
  let e: unknown;
  try {
    f();
  } catch (x) {
    e = x;
  }
  expect(e).toBeInstanceOf(ClientError);
  expect((e as ClientError).code).toBe('ACCESS_INVALID');
  expect((e as ClientError).check).toBe('REQ-2');
}

describe('REQ-2: the relay is checked against the log', () => {
  it('an honest answer: executed, both approvals and both releases verified, nothing hidden', () => {
    const s = checkStatus(view(), org, requestId, honest);
    expect(s.status).toBe('executed');
    expect(s.decisions.map((d) => [d.decision.decision.trusteeIndex, d.decision.decision.verdict])).toEqual([
      [1, 'approve'],
      [2, 'approve'],
    ]);
    expect(s.releases.map((r) => r.release.release.trusteeIndex).sort()).toEqual([1, 2]);
    expect(s.execution?.execution.execution.envelopeCount).toBe(fx.envelopes.length);
    expect(s.unlisted).toBe(0);
    expect(lastIndexOf(honest)).toBe(fx.entries.length - 1);
  });

  it('an entry the relay leaves out is counted as unlisted; the status is still the log’s', () => {
    const s = checkStatus(view(), org, requestId, { ...honest, decisions: honest.decisions.slice(1) });
    expect(s.unlisted).toBe(1);
    expect(s.status).toBe('executed');
    const hidden = checkStatus(view(), org, requestId, {
      ...honest,
      status: 'pending',
      execution: undefined,
      releases: [],
    } as RequestView);
    expect(hidden.unlisted).toBe(3);
    expect(hidden.status).toBe('pending');
    expect(hidden.relayStatus).toBe('pending');
  });

  it('an object not at the index the relay gives, other bytes, or a forged execution key fails REQ-2', () => {
    req2(() => checkStatus(view(), org, requestId, { ...honest, index: honest.index + 1 }));
    const flipped = honest.decisions[0]!.decision.slice();
    flipped[flipped.length - 1]! ^= 1;
    req2(() =>
      checkStatus(view(), org, requestId, {
        ...honest,
        decisions: [{ decision: flipped, index: honest.decisions[0]!.index }, honest.decisions[1]!],
      }),
    );
    req2(() =>
      checkStatus(view(), org, requestId, {
        ...honest,
        releases: [{ ...honest.releases[0]!, index: honest.decisions[0]!.index }],
      }),
    );
    req2(() => checkStatus(view(), { ...org, accessKey: orgKey.publicKey }, requestId, honest));
    req2(() => checkStatus(view(), org, new Uint8Array(16), honest));
    req2(() =>
      checkStatus({ ...view(), entries: fx.entries.slice(0, honest.index) }, org, requestId, honest),
    );
  });
});

describe('which relay a requester command talks to', () => {
  const dir = mkdtempSync(join(tmpdir(), 'overt-relay-option-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const ctx = (values: Record<string, string | undefined>): CommandContext => ({
    values,
    positionals: [],
    json: false,
    io: { stdout: () => undefined, stderr: () => undefined } as unknown as CommandContext['io'],
  });
  const anchors = (log: unknown) => {
    const file = join(dir, `anchors-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify({ org: 'example', log }));
    return file;
  };

  it('takes --relay when given, even beside --org-anchors', () => {
    const file = anchors({ url: 'http://127.0.0.1:9100/log/' });
    expect(relayOption(ctx({ relay: 'http://10.0.0.1:8000/', 'org-anchors': file }))).toBe(
      'http://10.0.0.1:8000',
    );
  });

  it("without --relay, takes the relay that serves the pinned anchors' log", () => {
    expect(relayOption(ctx({ 'org-anchors': anchors({ url: 'http://127.0.0.1:9100/log/' }) }))).toBe(
      'http://127.0.0.1:9100',
    );
    expect(relayOption(ctx({ 'org-anchors': anchors({ url: 'https://relay.example/org/log' }) }))).toBe(
      'https://relay.example/org',
    );
  });

  it('falls back to the default relay when the anchors name no log URL of that shape', () => {
    expect(relayOption(ctx({ 'org-anchors': anchors({ url: 'http://127.0.0.1:9100/tiles/' }) }))).toBe(
      DEFAULT_RELAY,
    );
    expect(relayOption(ctx({ 'org-anchors': anchors(undefined) }))).toBe(DEFAULT_RELAY);
    expect(relayOption(ctx({ 'org-anchors': join(dir, 'missing.json') }))).toBe(DEFAULT_RELAY);
    expect(relayOption(ctx({}))).toBe(DEFAULT_RELAY);
  });

  it('rejects a --relay that is not an http(s) URL with a usage error', () => {
    expect(() => relayOption(ctx({ relay: 'ftp://x' }))).toThrow(UsageError);
  });
});
