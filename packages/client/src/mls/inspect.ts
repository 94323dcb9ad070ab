/**
 * What a party without the group's keys can read from an MLS message: enough for the relay (the MLS delivery
 * service, RFC 9420 §14) to route and order messages, and nothing more. A PrivateMessage exposes its group id,
 * epoch and content type (§6.3, "the header is not encrypted"); a Welcome exposes the KeyPackageRefs of the
 * devices it adds (§12.4.3.1). Nothing here is authenticated: members verify everything themselves.
 */
import { ClientError } from '../errors.js';
import { decodeMlsStrict } from './engine.js';

export type MessageInfo =
  | {
      readonly kind: 'private' | 'public';
      readonly groupId: Uint8Array;
      readonly epoch: bigint;
      readonly contentType: 'application' | 'proposal' | 'commit';
    }
  | { readonly kind: 'welcome'; readonly recipients: readonly Uint8Array[] }
  | { readonly kind: 'key_package' }
  | { readonly kind: 'group_info'; readonly groupId: Uint8Array; readonly epoch: bigint };

/** Reads the cleartext header of any MLSMessage. Throws MLS_MALFORMED (MLS-15). */
export function inspectMessage(bytes: Uint8Array): MessageInfo {
  const msg = decodeMlsStrict(bytes);
  switch (msg.wireformat) {
    case 'mls_private_message':
      return {
        kind: 'private',
        groupId: msg.privateMessage.groupId,
        epoch: msg.privateMessage.epoch,
        contentType: msg.privateMessage.contentType,
      };
    case 'mls_public_message':
      return {
        kind: 'public',
        groupId: msg.publicMessage.content.groupId,
        epoch: msg.publicMessage.content.epoch,
        contentType: msg.publicMessage.content.contentType,
      };
    case 'mls_welcome':
      return { kind: 'welcome', recipients: msg.welcome.secrets.map((s) => s.newMember) };
    case 'mls_key_package':
      return { kind: 'key_package' };
    case 'mls_group_info':
      return {
        kind: 'group_info',
        groupId: msg.groupInfo.groupContext.groupId,
        epoch: msg.groupInfo.groupContext.epoch,
      };
  }
}

/** The KeyPackageRefs a Welcome is addressed to. Throws MLS_MALFORMED, or MLS_WIRE_FORMAT for another message. */
export function welcomeRecipients(bytes: Uint8Array): Uint8Array[] {
  const info = inspectMessage(bytes);
  if (info.kind !== 'welcome')
    throw new ClientError('MLS_WIRE_FORMAT', 'expected a Welcome', { check: 'MLS-16' });
  return [...info.recipients];
}
