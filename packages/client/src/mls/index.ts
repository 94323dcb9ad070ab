/**
 * Overt's MLS layer (RFC 9420 over ts-mls 1.6.4): device identities and credentials, key packages,
 * conversations, the key-transport payload, and header inspection for the relay. docs/spec/mls.md specifies it.
 */
export type { AuthenticateMember } from './auth.js';
export { CIPHERSUITE_ID, CIPHERSUITE_NAME } from './ciphersuite.js';
export {
  type CommitOutput,
  Conversation,
  type ConversationOptions,
  type DeviceRef,
  type Incoming,
  type ProposalSummary,
  type RosterChange,
} from './conversation.js';
export {
  CREDENTIAL_VERSION,
  createMlsIdentity,
  decodeMemberCredential,
  encodeMemberCredential,
  isUserId,
  MAX_DEVICE_ID_BYTES,
  MAX_USER_ID_BYTES,
  type Member,
  type MemberCredential,
  type MlsIdentity,
} from './credential.js';
export {
  decodeHistoryPart,
  encodeHistoryPart,
  HISTORY_EXTENSION_TYPE,
  HISTORY_MAX_PARTS,
  HISTORY_MAX_RECORDS_PER_PART,
  HISTORY_PAYLOAD_TYPE,
  type HistoryPart,
  type HistorySetting,
} from './history.js';
export { inspectMessage, type MessageInfo, welcomeRecipients } from './inspect.js';
export {
  decodeKeyPackageBundle,
  encodeKeyPackageBundle,
  generateKeyPackage,
  inspectKeyPackage,
  KEY_PACKAGE_LIFETIME_SECONDS,
  type KeyPackageBundle,
  type KeyPackageOptions,
  LAST_RESORT_EXTENSION_TYPE,
  MAX_KEY_PACKAGE_LIFETIME_SECONDS,
} from './keyPackage.js';
export {
  CONVERSATION_NAME_MAX_BYTES,
  decodeConversationName,
  decodeKeyTransport,
  encodeConversationName,
  encodeKeyTransport,
  KEY_TRANSPORT_BYTES,
  KEY_TRANSPORT_VERSION,
  type KeyTransportPayload,
  validConversationName,
} from './payload.js';
