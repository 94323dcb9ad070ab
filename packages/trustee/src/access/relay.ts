/**
 * What the access half needs from the relay (docs/spec/access.md §4), as a small interface that the client
 * package's AccessRelayClient (packages/client/src/access/relay-client.ts) satisfies as it is: the daemon passes
 * that client. The relay is untrusted: every answer is re-checked against the log (release rule 4 and 5), so a
 * lying relay can only cause refusals, never a share.
 */

/** One envelope of an execution as the relay serves it (GET …/envelopes). Nothing here is checked yet. */
export interface ServedEnvelope {
  readonly position: number;
  /** The label the relay claims; the trustee recomputes it from the head's header. */
  readonly label: Uint8Array;
  readonly messageId: Uint8Array;
  /** u32 len ‖ header ‖ capsule ‖ sender signature (envelope.md §3; core decodeEnvelopeHead). */
  readonly head: Uint8Array;
}

export interface EnvelopePage {
  readonly items: readonly ServedEnvelope[];
  /** The position to ask for next, null at the end. */
  readonly next: number | null;
}

export interface AccessRelay {
  /** GET /v1/access/requests/:requestId/envelopes?from=&limit= (positions ascending, limit ≤ 4096). */
  envelopes(requestId: Uint8Array, from?: number, limit?: number): Promise<EnvelopePage>;
  /** GET /v1/access/requests/:requestId/sealed: this trustee's sealed confidential part (§2). */
  sealedPart(requestId: Uint8Array): Promise<Uint8Array>;
  /** POST /v1/access/decisions; a byte-identical repeat is idempotent. */
  submitDecision(decision: Uint8Array): Promise<{ readonly index: number }>;
  /** POST /v1/access/releases; the same bytes again are idempotent (ACC-L4). */
  submitRelease(release: Uint8Array, bundle: Uint8Array, batch: number): Promise<unknown>;
  /** POST /v1/access/refusals. */
  submitRefusal(refusal: Uint8Array): Promise<unknown>;
  /** POST /v1/access/unseals (after-release.md §1): ACCESS_UNSEAL_EXISTS when another one is logged. */
  submitUnseal(unseal: Uint8Array): Promise<{ readonly index: number }>;
  /** GET /v1/access/extensions: the requesters' extension proposals (after-release.md §2). */
  listExtensions(after?: number, limit?: number): Promise<ExtensionPage>;
  /** POST /v1/access/extensions/signatures: this trustee's signature on a proposal. */
  signExtension(
    requestId: Uint8Array,
    number: number,
    signature: Uint8Array,
  ): Promise<{ readonly signers: number; readonly index?: number }>;
}

/** One extension proposal as the relay lists it (nothing checked yet: the trustee checks the statement). */
export interface ServedExtension {
  readonly seq: number;
  readonly requestId: Uint8Array;
  readonly number: number;
  readonly statement: Uint8Array;
  readonly reason: string;
  readonly signers: readonly number[];
  readonly index: number | null;
}

export interface ExtensionPage {
  readonly items: readonly ServedExtension[];
  readonly next: number | null;
}

/** The page size the release rule asks for (the relay's maximum, access.md §4). */
export const ENVELOPE_PAGE = 4096;
