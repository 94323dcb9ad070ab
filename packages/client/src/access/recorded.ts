/**
 * Telling recorded users (docs/spec/after-release.md §8.5, CLI-O1): the recorded group of a verified policy —
 * the users whose messages standing orders may release to the compliance archive — and which members of a
 * conversation are in it. Browser-safe; the answer comes from the policy on the client's verified view of the log,
 * never from the relay's word.
 */
import { recordedGroup, type VerifiedPolicy } from '@overt/core';

/** The recorded group of the policy (empty for a version 1 policy). */
export function recordedUsers(policy: VerifiedPolicy): readonly string[] {
  return recordedGroup(policy.policy);
}

/** Whether `userId` is in the policy's recorded group. */
export function isRecordedUser(policy: VerifiedPolicy, userId: string): boolean {
  return recordedUsers(policy).includes(userId);
}

/** The members of a conversation that are recorded, sorted; a conversation is marked recorded when any is. */
export function recordedMembers(policy: VerifiedPolicy, members: readonly string[]): string[] {
  const group = new Set(recordedUsers(policy));
  return [...new Set(members.filter((m) => group.has(m)))].sort();
}

/** The notice a recorded user is shown at enrolment (CLI-O1). */
export const RECORDED_NOTICE =
  'your messages in this organisation are recorded: the policy on the log names you in its recorded group, ' +
  'and standing orders approved by its trustees release them to the compliance archive';
