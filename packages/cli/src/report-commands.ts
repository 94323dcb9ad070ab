/**
 * Abuse reports from the command line (docs/spec/cli.md, client.md §4.5, relay.md §10; DESIGN §4 flow 10, A12):
 * `overt report <message id>` files the report a recipient's profile kept when the message arrived, and
 * `overt admin reports` lets the org admin list and read the reports the relay verified. A report reveals that one
 * message's text to the organisation and nothing else.
 */
import { RelayTransport, type ReportSummary, TEXT_CONTENT_TYPE } from '@overt/client';
import { fromBase64Url, toBase64, toBase64Url, utf8Decode } from '@overt/core';
import { adminOptions, guarded, printable, readAdminKey } from './chat-commands.js';
import {
  type Command,
  type CommandContext,
  EXIT_OK,
  emit,
  intOption,
  optionalString,
  requireString,
  UsageError,
} from './command.js';
import { profileDir, profileOptions, SecretSource } from './passphrase.js';
import { openProfile } from './profile.js';

function messageId(text: string): Uint8Array {
  try {
    const id = fromBase64Url(text);
    if (id.length === 16) return id;
  } catch {
    // Reported just below as a usage error.
  }
  throw new UsageError(`${JSON.stringify(text)} is not a message id (see 'overt read')`);
}

const report: Command = {
  path: ['report', ''],
  summary: 'report a received message to the organisation (abuse report)',
  positionals: ['MESSAGE_ID'],
  options: {
    ...profileOptions,
    reason: { type: 'string', value: 'TEXT', description: 'why you report it (1..500 characters)' },
  },
  details:
    "MESSAGE_ID is the id `overt read --json` prints. The report reveals this message's text, its sender and\nthe relay's stamp to the organisation, and no other message; the relay checks it binds the text to the\nsender before storing it. A message whose stamp did not verify (reportable: false) cannot be reported.",
  examples: [
    'overt report Q2hhdCBtZXNzYWdlIGlkIQ --profile ~/.overt/bob --reason "threatening message"',
    'overt report Q2hhdCBtZXNzYWdlIGlkIQ --profile ~/.overt/bob --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const id = messageId(ctx.positionals[0]!);
      const reason = optionalString(ctx, 'reason');
      if (reason !== undefined && (reason.length === 0 || [...reason].length > 500))
        throw new UsageError('--reason must be 1..500 characters');
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      const r = await p.client.report(id, reason === undefined ? {} : { reason });
      emit(
        ctx,
        {
          ok: true,
          reportId: r.reportId,
          result: r.result,
          messageId: toBase64Url(r.messageId),
          sender: r.senderUserId,
          stampTime: new Date(r.stampTime).toISOString(),
        },
        `${r.result === 'stored' ? 'reported' : 'already reported'}: message ${toBase64Url(r.messageId)} from ${printable(r.senderUserId)} (report ${r.reportId})`,
      );
      return EXIT_OK;
    }),
};

function summaryJson(r: ReportSummary) {
  return {
    reportId: r.reportId,
    messageId: toBase64Url(r.messageId),
    reporter: `${r.reporterUserId}/${r.reporterDeviceId}`,
    sender: `${r.senderUserId}/${r.senderDeviceId}`,
    conversation: toBase64Url(r.conversationId),
    sendTime: new Date(r.sendTime).toISOString(),
    stampTime: new Date(r.stampTime).toISOString(),
    reason: r.reason,
    receivedAt: new Date(r.receivedAt).toISOString(),
  };
}

async function adminTransport(ctx: CommandContext): Promise<RelayTransport> {
  const relay = requireString(ctx, 'relay');
  const admin = await readAdminKey(ctx);
  return new RelayTransport({ url: relay, key: admin.keyPair, signer: { kind: 'admin' } });
}

const adminReports: Command = {
  path: ['admin', 'reports'],
  summary: 'list abuse reports, or read one (--id)',
  positionals: [],
  options: {
    ...adminOptions,
    after: { type: 'string', value: 'N', description: 'list reports with an id above N (default 0)' },
    id: {
      type: 'string',
      value: 'N',
      description: 'read report N: its sender, reason and the reported text',
    },
  },
  details:
    'Every listed report was verified by the relay against its franking key (the text is bound to the sender\nnamed). Reading one verifies it again and prints the reported text (files: their size and type).',
  examples: [
    'overt admin reports --relay http://127.0.0.1:8420 --admin-key ./data/admin.key',
    'overt admin reports --relay http://127.0.0.1:8420 --admin-key ./data/admin.key --id 1 --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const transport = await adminTransport(ctx);
      const id = intOption(ctx, 'id', 1, Number.MAX_SAFE_INTEGER);
      if (id !== undefined) {
        const d = await transport.getReport(id);
        let text: string | undefined;
        if (d.contentType === TEXT_CONTENT_TYPE) {
          try {
            text = utf8Decode(d.plaintext);
          } catch {
            // Not UTF-8 although labelled text: shown as bytes below.
          }
        }
        const s = summaryJson(d);
        emit(
          ctx,
          {
            ok: true,
            report: {
              ...s,
              contentType: d.contentType,
              ...(text !== undefined ? { text } : { plaintext: toBase64(d.plaintext) }),
              bytes: d.plaintext.length,
            },
          },
          [
            `report ${s.reportId}: message ${s.messageId}`,
            `sender    ${printable(s.sender)} at ${s.sendTime} (relay stamp ${s.stampTime})`,
            `reporter  ${printable(s.reporter)}${s.reason !== null ? `: ${printable(s.reason)}` : ''}`,
            text !== undefined
              ? `text      ${printable(text)}`
              : `content   ${printable(d.contentType)}, ${d.plaintext.length} bytes`,
          ].join('\n'),
        );
        return EXIT_OK;
      }
      const list = (
        await transport.listReports(intOption(ctx, 'after', 0, Number.MAX_SAFE_INTEGER) ?? 0)
      ).map(summaryJson);
      emit(
        ctx,
        { ok: true, reports: list },
        list.length === 0
          ? 'no reports'
          : list
              .map(
                (r) =>
                  `${r.reportId}  ${r.receivedAt}  ${printable(r.sender)} reported by ${printable(r.reporter)}${
                    r.reason !== null ? `: ${printable(r.reason)}` : ''
                  }`,
              )
              .join('\n'),
      );
      return EXIT_OK;
    }),
};

export const reportCommands: readonly Command[] = [report, adminReports];
