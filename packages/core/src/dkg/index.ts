/**
 * Distributed key generation for an epoch and resharing (docs/spec/dkg.md): Pedersen DKG with Feldman
 * commitments and proofs of knowledge (FROST KeyGen), GJKR complaint resolution, HPKE-encrypted shares, and
 * a publicly verifiable transcript.
 */
export {
  type DkgEncryptionKeyPair,
  deriveDkgEncryptionKey,
  generateDkgEncryptionKey,
} from './hpke.js';
export * from './local.js';
export {
  buildComplaint,
  buildJustification,
  buildRound1,
  buildShare,
  checkAuthentic,
  DKG_COMPLAINT_REASON,
  DKG_MESSAGE_TYPE,
  DKG_TAG_MESSAGE,
  DKG_TAG_POK,
  DKG_TAG_POK_NONCE,
  type DkgAccusation,
  type DkgComplaintMessage,
  type DkgComplaintReason,
  type DkgJustificationMessage,
  type DkgMessage,
  type DkgMessageType,
  type DkgProof,
  type DkgRevealedShare,
  type DkgRound1Message,
  type DkgShareMessage,
  decodeDkgMessage,
} from './messages.js';
export * from './participant.js';
export type { DkgDisqualification, DkgDisqualificationReason } from './qualify.js';
export * from './session.js';
export {
  DKG_TAG_TRANSCRIPT,
  transcriptHash as dkgTranscriptHash,
  type VerifiedDkgTranscript,
  verifyTranscript,
} from './transcript.js';
