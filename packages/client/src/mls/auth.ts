/**
 * The authentication service (RFC 9420 §5.3.1, §16.10): the application's decision whether a credential may be
 * in a group. Overt plugs the key-transparency check in here: a device is accepted only if its (user id, device
 * id, identity key) is on the transparency log, so the relay cannot slip a ghost device into a conversation
 * (DESIGN §6, A6).
 *
 * ts-mls calls `validateCredential` for every key package in an Add (committer and receivers), every leaf node
 * in a commit path or Update, every leaf of the tree in a Welcome, and the GroupInfo signer. {@link AuthGate}
 * adapts the application's hook to that interface: it first applies Overt's own rules (MLS-1 credential format,
 * MLS-2 identity key = signature key), then the hook (MLS-3); it remembers, per operation, what it accepted and
 * the first reason it refused, so that the engine's generic "could not validate credential" becomes our typed
 * error, and so that conversation.ts can prove every new leaf passed the hook.
 */
import { toHex } from '@overt/core';
import type { AuthenticationService, Credential } from 'ts-mls';
import { ClientError } from '../errors.js';
import { encodeMemberCredential, type MemberCredential, memberCredentialOf } from './credential.js';

/**
 * The application's authentication decision for one device. Return true to accept. It may be asynchronous (a
 * transparency-log lookup); an exception counts as a rejection (fail closed) and is kept as the error's cause.
 */
export type AuthenticateMember = (member: MemberCredential) => boolean | Promise<boolean>;

function keyOf(c: MemberCredential): string {
  return toHex(encodeMemberCredential(c));
}

export class AuthGate implements AuthenticationService {
  private accepted = new Set<string>();
  private failure: ClientError | undefined;

  constructor(private readonly hook: AuthenticateMember) {}

  /** Starts an operation: forgets earlier decisions, so the hook is asked afresh (its answer may have changed). */
  begin(): void {
    this.accepted = new Set();
    this.failure = undefined;
  }

  /** The first refusal since {@link begin}, if any. */
  get refusal(): ClientError | undefined {
    return this.failure;
  }

  /** ts-mls's entry point. Never throws: a refusal is recorded and reported as `false`. */
  async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
    let member: MemberCredential;
    try {
      member = memberCredentialOf(credential, signaturePublicKey);
    } catch (e) {
      this.failure ??=
        e instanceof ClientError
          ? e
          : new ClientError('MLS_CREDENTIAL_MALFORMED', 'credential', { check: 'MLS-1', cause: e });
      return false;
    }
    try {
      await this.authenticate(member);
      return true;
    } catch (e) {
      if (e instanceof ClientError) {
        this.failure ??= e;
        return false;
      }
      throw e;
    }
  }

  /** Runs the hook once per credential per operation. Throws MLS_CREDENTIAL_REJECTED (check MLS-3). */
  async authenticate(member: MemberCredential): Promise<void> {
    const key = keyOf(member);
    if (this.accepted.has(key)) return;
    let ok: boolean;
    try {
      ok = (await this.hook(member)) === true;
    } catch (cause) {
      const err = new ClientError('MLS_CREDENTIAL_REJECTED', 'authentication service failed', {
        check: 'MLS-3',
        cause,
      });
      this.failure ??= err;
      throw err;
    }
    if (!ok) {
      const err = new ClientError('MLS_CREDENTIAL_REJECTED', 'authentication service rejected a device', {
        check: 'MLS-3',
      });
      this.failure ??= err;
      throw err;
    }
    this.accepted.add(key);
  }

  /** True when `member` was accepted by the hook since {@link begin}. */
  hasAccepted(member: MemberCredential): boolean {
    return this.accepted.has(keyOf(member));
  }
}
