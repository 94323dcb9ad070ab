/**
 * `overt evidence verify` (docs/spec/cli.md §8, evidence.md): checks an evidence bundle — a directory or its
 * single-file archive — offline, with no network, clock or secret: every check of evidence.md in order, then a
 * verdict per message. Any failure exits 1 and names the check, the file and the message it concerns.
 */
import { statSync } from 'node:fs';
import { type EvidenceReport, isClientError } from '@overt/client';
import { printable } from './chat-commands.js';
import { type Command, EXIT_FAILED, EXIT_OK, emit, fileReason, UsageError } from './command.js';
import { evidenceAnchorsOf, loadOrg, verifyEvidenceWithWorkers } from './requester.js';

function reportText(path: string, r: EvidenceReport): string {
  const lines = [
    `${r.ok ? 'VERIFIED' : 'FAILED'}  ${path}${r.requestId ? ` (request ${r.requestId}, org ${printable(r.org ?? '')})` : ''}`,
  ];
  if (r.checkpoint)
    lines.push(
      `checkpoint ${printable(r.checkpoint.origin)} size ${r.checkpoint.size}, cosigned by ${r.checkpoint.witnesses.map(printable).join(', ')}`,
    );
  lines.push(
    r.anchorsPinned
      ? 'anchors   the pinned --org-anchors'
      : "anchors   the bundle's own (not pinned: compare anchors.json with the org's keys, or pass --org-anchors)",
  );
  for (const m of r.messages) {
    const who = m.sender ? ` from ${printable(m.sender)}/${printable(m.device ?? '')}` : '';
    const when = m.sendTime !== undefined ? ` at ${new Date(m.sendTime).toISOString()}` : '';
    if (m.status === 'verified')
      lines.push(
        `  ${m.position}: verified  ${m.messageId}${who}${when}: ${printable(m.content ?? '')} (trustees ${(m.trustees ?? []).join(', ')})`,
      );
    else if (m.status === 'withheld')
      lines.push(`  ${m.position}: withheld  ${m.messageId ?? ''}${who}${when}`);
    else lines.push(`  ${m.position}: FAILED  [${m.check ?? ''}] ${printable(m.reason ?? '')}`);
  }
  for (const f of r.failures)
    lines.push(
      `FAILED ${f.check}${f.file !== undefined ? ` ${printable(f.file)}` : ''}${f.position !== undefined ? ` (message ${f.position})` : ''}: ${printable(f.reason)}`,
    );
  return lines.join('\n');
}

const evidenceVerify: Command = {
  path: ['evidence', 'verify'],
  summary: 'verify an evidence bundle offline: receipts, signatures, shares, every message',
  positionals: ['DIR_OR_ARCHIVE'],
  options: {
    'org-anchors': {
      type: 'string',
      value: 'FILE',
      description: "a saved copy of the org's /.well-known/overt to pin the keys (default: the bundle's own)",
    },
  },
  details:
    'Offline: no network, no clock, no secret key. Runs the checks of evidence.md in order (EVD-1..EVD-10 and the\n' +
    "requester's ACC-Q*/ACC-A9 checks) and prints one verdict per message; every failure names its check and the\n" +
    "file (and message) it concerns. With --org-anchors the bundle's anchors.json must equal the pinned keys\n" +
    '(EVD-4); without it the bundle is checked against its own anchors, which proves it consistent, not genuine.\n' +
    'Exit 0 only when everything verifies; 1 on any failure.',
  examples: [
    'overt evidence verify ./evidence-42 --org-anchors org.json',
    'overt evidence verify ./evidence-42.overt --org-anchors org.json --json',
  ],
  run: async (ctx) => {
    const path = ctx.positionals[0]!;
    try {
      statSync(path);
    } catch (e) {
      throw new UsageError(`cannot read ${path}: ${fileReason(e)}`);
    }
    const pinned =
      ctx.values['org-anchors'] !== undefined ? evidenceAnchorsOf(await loadOrg(ctx, '', false)) : undefined;
    let report: EvidenceReport;
    try {
      report = await verifyEvidenceWithWorkers(path, pinned !== undefined ? { anchors: pinned } : {});
    } catch (e) {
      if (!isClientError(e)) throw e;
      report = {
        ok: false,
        anchorsPinned: pinned !== undefined,
        failures: [{ check: e.check ?? 'EVD-1', reason: e.message }],
        messages: [],
      };
    }
    emit(ctx, { ...report, ok: report.ok, path }, reportText(path, report));
    return report.ok ? EXIT_OK : EXIT_FAILED;
  },
};

export const evidenceCommands: readonly Command[] = [evidenceVerify];
