// How the messaging commands report an SDK refusal (cli.md §4): the code and check ID of the failing rule, and for
// a key-transparency decision refused on a stale view of the log (client.md §8.6, KT-FRESH-1) that reason, even
// when the SDK reports it as the cause of an MLS refusal.
import { ClientError } from '@overt/client';
import { describe, expect, it } from 'vitest';
import { guarded } from './chat-commands.js';
import type { CommandContext } from './command.js';

function context(json: boolean): { ctx: CommandContext; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CommandContext = {
    values: {},
    positionals: [],
    json,
    io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t), stopped: new Promise(() => undefined) },
  };
  return { ctx, out, err };
}

const stale = new ClientError(
  'KT_LOG_STALE',
  'stale log view: its witness quorum last cosigned it 400 s ago',
  {
    check: 'KT-FRESH-1',
  },
);

describe('guarded: SDK refusals as exit status 1 with their reason', () => {
  it('a stale log view is shown with its code and check ID, also when it is the cause of an MLS refusal', async () => {
    for (const thrown of [
      stale,
      new ClientError('MLS_CREDENTIAL_REJECTED', 'the authentication service rejected a member', {
        check: 'MLS-3',
        cause: stale,
      }),
    ]) {
      const text = context(false);
      expect(await guarded(text.ctx, () => Promise.reject(thrown))).toBe(1);
      expect(text.err.join('')).toBe(
        'overt: KT_LOG_STALE [KT-FRESH-1]: stale log view: its witness quorum last cosigned it 400 s ago [KT_LOG_STALE KT-FRESH-1]\n',
      );
      const json = context(true);
      expect(await guarded(json.ctx, () => Promise.reject(thrown))).toBe(1);
      expect(JSON.parse(json.out.join(''))).toMatchObject({
        ok: false,
        error: { code: 'KT_LOG_STALE', check: 'KT-FRESH-1' },
      });
    }
  });

  it('other refusals are shown as they are; anything else is not ours to print', async () => {
    const text = context(false);
    const refused = new ClientError('KT_DEVICE_NOT_ON_LOG', 'not on the log', { check: 'KT-3' });
    expect(await guarded(text.ctx, () => Promise.reject(refused))).toBe(1);
    expect(text.err.join('')).toContain('[KT_DEVICE_NOT_ON_LOG KT-3]');
    await expect(guarded(text.ctx, () => Promise.reject(new TypeError('bug')))).rejects.toThrow(TypeError);
  });
});
