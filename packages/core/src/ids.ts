/**
 * Identifiers shared by every part of the protocol, defined once (docs/spec/foundations.md §8): one length limit
 * per kind of id, and the alphabets. Envelope headers, franking stamps, workflow objects, directory statements,
 * DKG sessions, the relay and the standalone start all validate through this module, so an id accepted anywhere
 * fits everywhere — an org id allowed at start fits an envelope header.
 */

/** Org ids: 1..64 bytes. */
export const ORG_ID_MAX = 64;
/** User ids: 1..128 bytes. */
export const USER_ID_MAX = 128;
/** Device ids: 1..64 bytes. */
export const DEVICE_ID_MAX = 64;
/** Conversation ids (MLS group ids): 1..64 opaque bytes. */
export const CONVERSATION_ID_MAX = 64;

/**
 * Printable ASCII without space (0x21–0x7e), 1..max characters. One identifier has one byte encoding (no Unicode
 * normalisation question), and its bytes compare like the string (foundations.md §9).
 */
export function isIdString(s: unknown, max: number): s is string {
  if (typeof s !== 'string' || s.length < 1 || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** An org id: 1..{@link ORG_ID_MAX} characters of 0x21–0x7e. */
export function isOrgId(s: unknown): s is string {
  return isIdString(s, ORG_ID_MAX);
}

// The relay's URL-safe alphabets (relay.md §2.2): subsets of the printable ASCII of headers, so that ids travel in
// URL paths unescaped. Enrolment (directory statements, the relay's API) uses these; headers and MLS credentials
// accept any printable ASCII id within the same limits.
const USER_ID = new RegExp(`^[A-Za-z0-9._~@+-]{1,${USER_ID_MAX}}$`);
const DEVICE_ID = new RegExp(`^[A-Za-z0-9._~-]{1,${DEVICE_ID_MAX}}$`);

/** A user id as the directory and the relay accept it: `[A-Za-z0-9._~@+-]`, 1..{@link USER_ID_MAX}. */
export function isUserId(s: unknown): s is string {
  return typeof s === 'string' && USER_ID.test(s);
}

/** A device id as the directory and the relay accept it: `[A-Za-z0-9._~-]`, 1..{@link DEVICE_ID_MAX}. */
export function isDeviceId(s: unknown): s is string {
  return typeof s === 'string' && DEVICE_ID.test(s);
}
