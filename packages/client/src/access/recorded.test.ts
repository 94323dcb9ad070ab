// The recorded group as clients show it (docs/spec/after-release.md §8.5, CLI-O1): from a verified policy only.
import { describe, expect, it } from 'vitest';
import { verifiedPolicy, verifiedPolicyV2 } from '../../../core/test/workflow-fixtures.js';
import { isRecordedUser, RECORDED_NOTICE, recordedMembers, recordedUsers } from './recorded.js';

describe('recorded group (CLI-O1)', () => {
  it('names the recorded members of a conversation, sorted and once each; nobody under a version 1 policy', () => {
    expect(recordedUsers(verifiedPolicyV2)).toEqual(['alice@example.org', 'trader2@example.org']);
    expect(isRecordedUser(verifiedPolicyV2, 'alice@example.org')).toBe(true);
    expect(isRecordedUser(verifiedPolicyV2, 'bob@example.org')).toBe(false);
    expect(
      recordedMembers(verifiedPolicyV2, [
        'trader2@example.org',
        'bob@example.org',
        'alice@example.org',
        'alice@example.org',
      ]),
    ).toEqual(['alice@example.org', 'trader2@example.org']);
    expect(recordedMembers(verifiedPolicyV2, ['bob@example.org'])).toEqual([]);
    expect(recordedUsers(verifiedPolicy)).toEqual([]);
    expect(recordedMembers(verifiedPolicy, ['alice@example.org'])).toEqual([]);
    expect(RECORDED_NOTICE).toContain('recorded');
  });
});
