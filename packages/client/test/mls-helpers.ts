/**
 * Test helpers for the MLS layer: devices, groups grown by one commit, fan-out of a message to members, and
 * access to a conversation's raw ts-mls state for adversarial tests that play a member running modified
 * software (such a member holds every key a real member holds, so it can build any message ts-mls can).
 */
import { generateSigningKey, randomBytes, utf8Decode, utf8Encode } from '@overt/core';
import type { ClientState } from 'ts-mls';
import {
  Conversation,
  type ConversationOptions,
  createMlsIdentity,
  type DeviceRef,
  generateKeyPackage,
  type Incoming,
  type KeyTransportPayload,
  type MlsIdentity,
} from '../src/index.js';

export const accept: ConversationOptions = { authenticate: () => true };

/** A device of `userId`; device ids are opaque bytes, here the UTF-8 of a readable name. */
export function newDevice(userId: string, deviceName = 'phone'): MlsIdentity {
  return createMlsIdentity(userId, utf8Encode(deviceName), generateSigningKey());
}

/** The device `deviceName` of `userId`, to remove it. */
export function device(userId: string, deviceName = 'phone'): DeviceRef {
  return { userId, deviceId: utf8Encode(deviceName) };
}

/** The readable name of a device made by {@link newDevice}. */
export function deviceName(m: { readonly deviceId: Uint8Array }): string {
  return utf8Decode(m.deviceId);
}

export function randomPayload(): KeyTransportPayload {
  return { messageId: randomBytes(16), contentKey: randomBytes(32), seed: randomBytes(32) };
}

/** Delivers one message to each conversation, in order. */
export async function deliver(bytes: Uint8Array, to: readonly Conversation[]): Promise<Incoming[]> {
  const out: Incoming[] = [];
  for (const c of to) out.push(await c.processIncoming(bytes));
  return out;
}

/**
 * `adder` adds `joiners` in one commit, merges it, the existing members `others` process it, and each joiner
 * joins from the Welcome. Returns the joiners' conversations.
 */
export async function addAndJoin(
  adder: Conversation,
  others: readonly Conversation[],
  joiners: readonly MlsIdentity[],
  options: ConversationOptions = accept,
): Promise<Conversation[]> {
  const bundles = await Promise.all(joiners.map((j) => generateKeyPackage(j)));
  const out = await adder.addMembers(bundles.map((b) => b.keyPackage));
  await adder.mergePendingCommit();
  await deliver(out.commit, others);
  const joined: Conversation[] = [];
  for (let i = 0; i < joiners.length; i++) {
    const j = await Conversation.join(joiners[i]!, out.welcome!, [bundles[i]!], options);
    joined.push(j.conversation);
  }
  return joined;
}

/** A group of `n` single-device users; index 0 created it. */
export async function makeGroup(n: number): Promise<{ ids: MlsIdentity[]; convs: Conversation[] }> {
  const ids = Array.from({ length: n }, (_, i) => newDevice(`user${i}`));
  const creator = await Conversation.create(ids[0]!, accept);
  const rest = n > 1 ? await addAndJoin(creator, [], ids.slice(1)) : [];
  return { ids, convs: [creator, ...rest] };
}

/** The ts-mls state inside a conversation (tests of a malicious member only). */
export function rawState(c: Conversation): ClientState {
  return (c as unknown as { state: ClientState }).state;
}
