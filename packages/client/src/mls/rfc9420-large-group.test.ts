/**
 * A 50-device group through Overt's wrapper (RFC 9420): one commit adds 49 devices, every joiner validates the
 * whole roster from the Welcome, every member reads a message, and a removal cuts one device off. The expensive
 * file of the suite (each join validates 50 leaves and the tree's parent hashes), so it holds this one scenario.
 */
import { equalBytes } from '@overt/core';
import { expect, test } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { accept, deliver, device, makeGroup, randomPayload } from '../../test/mls-helpers.js';
import { Conversation } from '../index.js';

test('fifty members: one commit adds 49, all read a message, a removal reaches the group', async () => {
  const { ids, convs } = await makeGroup(50);
  expect(convs.length).toBe(50);
  const auth = convs[0]!.epochAuthenticator;
  for (const c of convs) {
    expect(c.epoch).toBe(1n);
    expect(equalBytes(c.epochAuthenticator, auth)).toBe(true);
  }
  expect(convs[49]!.members().length).toBe(50);

  const p = randomPayload();
  const msg = await convs[17]!.encrypt(p);
  for (let i = 0; i < 50; i++) {
    if (i === 17) continue;
    const r = await convs[i]!.processIncoming(msg);
    expect(r.kind === 'application' && r.sender.userId).toBe('user17');
    expect(r.kind === 'application' && equalBytes(r.payload.contentKey, p.contentKey)).toBe(true);
  }

  const rm = await convs[0]!.removeMembers([device('user33')]);
  await convs[0]!.mergePendingCommit();
  // A member restored from storage follows as well as a live one.
  const restored = await Conversation.restore(ids[49]!, convs[49]!.serialize(), accept);
  const followers = [convs[1]!, convs[25]!, restored];
  const results = await deliver(rm.commit, [...followers, convs[33]!]);
  expect(results[3]!.kind === 'commit' && results[3]!.removedSelf).toBe(true);
  for (const f of followers) {
    expect(f.epoch).toBe(2n);
    expect(equalBytes(f.epochAuthenticator, convs[0]!.epochAuthenticator)).toBe(true);
    expect(f.members().length).toBe(49);
  }
  const after = await convs[0]!.encrypt(randomPayload());
  for (const f of followers) expect((await f.processIncoming(after)).kind).toBe('application');
  await expectClientError(convs[33]!.processIncoming(after), 'MLS_NOT_MEMBER', 'MLS-19');
});
