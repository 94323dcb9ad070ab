/**
 * The relay's high-throughput ingest path (relay.md §6.8): one message = (group, MLS application message,
 * inline envelope) sent on the authenticated WebSocket. Three stages:
 *
 * 1. On the event loop, the cheap checks, cheapest first: MLS framing (DS-1, DS-2), the envelope head's
 *    framing (RLY-14), its conversation is the group (RLY-15), then the relay's ingest rules, the one function
 *    the HTTP upload runs too (rules.ts: freshness, epoch, key, org, sender, payload limit, the conversation exists,
 *    the sender is a member at the MLS message's epoch — DS-3, DS-5 —, recipients = the members' users).
 *    The storage checks DS-3/DS-5 again inside its transaction.
 * 2. Core's ingest check (sender signature ENV-20 / RLY-20, capsule validity ENV-18 / RLY-13, ciphertext digest
 *    ENV-12 / RLY-14) in a pool of worker threads, batched — unless the relay was built with
 *    `unsafeSkipCapsuleChecks` (benchmark baseline).
 * 3. Group commit: the checked messages of one event-loop turn (and all that arrive while a transaction runs)
 *    are stored by one {@link RelayStorage.storeMessages} call, one transaction, then answered and their
 *    recipients woken.
 *
 * Flow limits (RLY-24, relay.md §2.4): before a frame or an HTTP upload enters, {@link IngestPipeline.admit}
 * counts it against its device's bound and the node's bound (messages and bytes held until answered); beyond
 * either it is refused with RELAY_BUSY and Retry-After, before any check or write. So the queues of stages 2 and
 * 3 hold a bounded number of bounded messages, and one device cannot fill the node's share.
 */
import {
  CAPSULE_BYTES,
  ChunkGeometry,
  decodeHeader,
  envelopeHeadLength,
  equalBytes,
  type Header,
  OvertError,
  SENDER_SIGNATURE_BYTES,
  toBase64Url,
  utf8Encode,
} from '@overt/core';
import { RelayError } from '../errors.js';
import type { MailboxHub } from '../hub.js';
import { busy, DEFAULT_RESOURCE_LIMITS, type ResourceLimits } from '../limits.js';
import { readGroupMessage } from '../mls-framing.js';
import { ingestError } from '../service.js';
import type {
  DeviceRecord,
  EnvelopedMessage,
  EnvelopedOutcome,
  EnvelopeRecord,
  RelayStorage,
} from '../storage/storage.js';
import { CapsuleCheckPool } from './capsule-pool.js';
import type { SendFrame } from './frames.js';
import { IngestRules } from './rules.js';

export interface IngestPipelineOptions {
  readonly storage: RelayStorage;
  readonly hub: MailboxHub;
  readonly orgId: string;
  readonly now: () => number;
  readonly envelopeSkewMs: number;
  readonly maxPayloadBytes: number;
  /**
   * Skips core's ingest check (capsule validity and ciphertext digest) entirely. For the capacity benchmark's
   * baseline only: a relay running with it stores envelopes whose capsules no trustee may be able to open.
   */
  readonly unsafeSkipCapsuleChecks?: boolean;
  /** Capsule-check worker threads (default 2); started on the first message. */
  readonly capsuleWorkers?: number;
  /** Most messages per storage transaction (default 512). */
  readonly maxBatch?: number;
  /**
   * The ingest rules shared with the HTTP upload (relay.ts passes one instance to both); built from these options
   * when absent.
   */
  readonly rules?: IngestRules;
  /** Upload admission and the capsule-check queue bound (RLY-24); default DEFAULT_RESOURCE_LIMITS. */
  readonly limits?: ResourceLimits;
}

/** A place in the pipeline (RLY-24); `release()` frees it once the upload is answered (idempotent). */
export interface Admission {
  release(): void;
}

/** A message that passed every check and waits for its transaction. */
export interface CheckedMessage {
  readonly stored: EnvelopedMessage;
}

export interface SendOutcome {
  readonly messageId: Uint8Array;
  readonly result: 'stored' | 'duplicate';
  readonly recipients: number;
}

interface Queued {
  readonly item: EnvelopedMessage;
  readonly resolve: (o: SendOutcome) => void;
  readonly reject: (e: unknown) => void;
}

/** Counters for the benchmark and operators. */
export interface IngestStats {
  readonly accepted: number;
  readonly stored: number;
  readonly refused: number;
  readonly transactions: number;
  readonly capsuleChecks: number;
  readonly capsuleBusyMs: number;
  /** Uploads admitted and not yet released (RLY-24), their bytes, and the most there ever were at once. */
  readonly admitted: number;
  readonly admittedBytes: number;
  readonly peakAdmitted: number;
  readonly peakAdmittedBytes: number;
  /** Uploads refused with RELAY_BUSY by admission or by the capsule-check queue. */
  readonly busyRefusals: number;
  /** The most capsule checks that were queued or running at once. */
  readonly peakCapsuleQueue: number;
}

function context(what: string): RelayError {
  return new RelayError('ENV_CONTEXT', `envelope refused: ${what}`, { check: 'RLY-15' });
}

export class IngestPipeline {
  private pool: CapsuleCheckPool | undefined;
  private readonly rules: IngestRules;
  private queue: Queued[] = [];
  private flushing = false;
  private scheduled = false;
  private closed = false;
  private readonly counters = { accepted: 0, stored: 0, refused: 0, transactions: 0 };
  private readonly limits: ResourceLimits;
  /** What each device holds in the pipeline now (RLY-24); a device holding nothing has no entry. */
  private readonly held = new Map<string, { count: number; bytes: number }>();
  private readonly flow = {
    count: 0,
    bytes: 0,
    peakCount: 0,
    peakBytes: 0,
    busy: 0,
  };

  constructor(private readonly o: IngestPipelineOptions) {
    this.rules = o.rules ?? new IngestRules(o);
    this.limits = o.limits ?? DEFAULT_RESOURCE_LIMITS;
  }

  /**
   * Admits one upload of `bytes` from a device (RLY-24): a WebSocket send frame, or an HTTP envelope or blob
   * chunk upload. Throws RELAY_BUSY (Retry-After 1) when the device already holds `deviceUploads` uploads or
   * `deviceUploadBytes`, or the node holds `totalUploads` or `totalUploadBytes`; nothing is checked or stored then.
   * A single upload larger than a byte bound is admitted when its holder holds nothing else, so that no valid
   * upload is refused forever. Release the admission once the upload is answered.
   */
  admit(deviceId: string, bytes: number): Admission {
    const l = this.limits;
    const mine = this.held.get(deviceId) ?? { count: 0, bytes: 0 };
    const over = (count: number, held: number, maxCount: number, maxBytes: number) =>
      count >= maxCount || (count > 0 && held + bytes > maxBytes);
    if (over(mine.count, mine.bytes, l.deviceUploads, l.deviceUploadBytes)) {
      this.flow.busy++;
      throw busy('this device has too many uploads in progress');
    }
    if (over(this.flow.count, this.flow.bytes, l.totalUploads, l.totalUploadBytes)) {
      this.flow.busy++;
      throw busy('too many uploads in progress');
    }
    mine.count++;
    mine.bytes += bytes;
    this.held.set(deviceId, mine);
    this.flow.count++;
    this.flow.bytes += bytes;
    this.flow.peakCount = Math.max(this.flow.peakCount, this.flow.count);
    this.flow.peakBytes = Math.max(this.flow.peakBytes, this.flow.bytes);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        mine.count--;
        mine.bytes -= bytes;
        if (mine.count === 0) this.held.delete(deviceId);
        this.flow.count--;
        this.flow.bytes -= bytes;
      },
    };
  }

  /** Starts the capsule-check workers now (a benchmark keeps their start-up out of its window). */
  async warm(): Promise<void> {
    await this.capsulePool()?.ready();
  }

  private capsulePool(): CapsuleCheckPool | undefined {
    if (this.o.unsafeSkipCapsuleChecks === true) return undefined;
    // Never "no pool, so no check": a stopping relay refuses instead.
    if (this.closed) throw new RelayError('RELAY_INTERNAL', 'the relay is stopping');
    this.pool ??= new CapsuleCheckPool({
      size: this.o.capsuleWorkers ?? 2,
      maxQueued: this.limits.capsuleQueue,
    });
    return this.pool;
  }

  /** Stages 1 and 2: every check, then the record to store. Refusals are RelayErrors. */
  async check(device: DeviceRecord, frame: SendFrame): Promise<CheckedMessage> {
    const framing = readGroupMessage(frame.message);
    if (framing.contentType !== 'application')
      throw new RelayError('DS_WIRE_FORMAT', 'the send frame carries application messages only', {
        check: 'DS-1',
      });
    if (!equalBytes(framing.groupId, frame.groupId))
      throw new RelayError('DS_GROUP_MISMATCH', 'the message belongs to another group', { check: 'DS-2' });
    let header: Header;
    let headLength: number;
    let headerBytes: Uint8Array;
    let capsule: Uint8Array;
    let signature: Uint8Array;
    try {
      // The head without its label (a SHA-256 of the header only the capsule check needs: the workers' job).
      headLength = envelopeHeadLength(frame.envelope);
      if (frame.envelope.length < headLength)
        throw new OvertError('ENVELOPE_MALFORMED', 'envelope ends inside its head', { check: 'ENV-4' });
      const capsuleAt = headLength - CAPSULE_BYTES - SENDER_SIGNATURE_BYTES;
      headerBytes = frame.envelope.subarray(4, capsuleAt);
      capsule = frame.envelope.subarray(capsuleAt, capsuleAt + CAPSULE_BYTES);
      signature = frame.envelope.subarray(capsuleAt + CAPSULE_BYTES, headLength);
      header = decodeHeader(headerBytes);
      const g = new ChunkGeometry(header.payloadLength, header.chunkSize);
      if (frame.envelope.length - headLength !== g.ciphertextLength)
        throw new OvertError('ENVELOPE_MALFORMED', 'ciphertext length does not match the header', {
          check: 'ENV-16',
        });
    } catch (e) {
      throw ingestError(e);
    }
    if (!equalBytes(header.conversationId, frame.groupId))
      throw context('the conversation is not the group it is sent to');
    const ruled = await this.rules.check(device, header, framing.epoch);
    const now = ruled.now;
    const pool = this.capsulePool();
    if (pool !== undefined) {
      const verdict = await pool.check({
        envelope: frame.envelope,
        orgId: this.o.orgId,
        epoch: ruled.epoch,
        epochKey: ruled.epochKey,
        senderUserId: device.userId,
        senderDeviceId: utf8Encode(device.deviceId),
        senderKey: device.identityKey,
        now,
        maxClockSkewMs: this.o.envelopeSkewMs,
        maxPayloadBytes: this.o.maxPayloadBytes,
        members: ruled.members,
      });
      if (!verdict.ok && verdict.code === 'INTERNAL')
        throw new RelayError('RELAY_INTERNAL', 'the ingest check failed to run');
      if (!verdict.ok)
        throw ingestError(
          new OvertError(verdict.code as OvertError['code'], 'the ingest check refused the envelope', {
            ...(verdict.check !== undefined ? { check: verdict.check } : {}),
          }),
        );
    }
    const envelope: EnvelopeRecord = {
      messageId: header.messageId,
      orgId: header.orgId,
      epoch: header.epoch,
      conversationId: header.conversationId,
      senderUserId: header.senderUserId,
      senderDeviceId: device.deviceId,
      sendTime: header.sendTime,
      header: headerBytes,
      capsule,
      signature,
      ciphertext: frame.envelope.slice(headLength),
      blobId: null,
      receivedAt: now,
    };
    return {
      stored: {
        envelope,
        message: {
          groupId: frame.groupId,
          epoch: framing.epoch,
          senderDeviceId: device.deviceId,
          message: frame.message,
          now,
        },
      },
    };
  }

  /**
   * Stage 3: queues a checked message for the next transaction. Call in the order the sender sent (the queue
   * keeps it, so messages of one connection are stored and answered in order). Resolves after the commit.
   */
  store(checked: CheckedMessage): Promise<SendOutcome> {
    if (this.closed) return Promise.reject(new RelayError('RELAY_INTERNAL', 'the relay is stopping'));
    this.counters.accepted++;
    return new Promise((resolve, reject) => {
      this.queue.push({ item: checked.stored, resolve, reject });
      if (!this.flushing && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Stores the queue in transactions of at most maxBatch, one at a time, until it is empty. */
  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.o.maxBatch ?? 512);
        let outcomes: EnvelopedOutcome[];
        try {
          outcomes = await this.o.storage.storeMessages(batch.map((q) => q.item));
        } catch (e) {
          for (const q of batch) q.reject(e);
          continue;
        }
        this.counters.transactions++;
        const woken = new Set<string>();
        batch.forEach((q, i) => {
          const o = outcomes[i]!;
          if (o.result === 'refused') {
            this.counters.refused++;
            q.reject(o.error);
            return;
          }
          const recipients = o.result === 'stored' ? o.recipients : [];
          if (o.result === 'stored') this.counters.stored++;
          for (const d of recipients) woken.add(d);
          q.resolve({
            messageId: q.item.envelope.messageId,
            result: o.result,
            recipients: recipients.length,
          });
        });
        this.o.hub.notify([...woken]);
      }
    } finally {
      this.flushing = false;
    }
  }

  stats(): IngestStats {
    const p = this.pool?.getStats();
    return {
      ...this.counters,
      capsuleChecks: p?.checked ?? 0,
      capsuleBusyMs: p?.busyMs ?? 0,
      admitted: this.flow.count,
      admittedBytes: this.flow.bytes,
      peakAdmitted: this.flow.peakCount,
      peakAdmittedBytes: this.flow.peakBytes,
      busyRefusals: this.flow.busy + (p?.refused ?? 0),
      peakCapsuleQueue: p?.peakPending ?? 0,
    };
  }

  /** Stops the workers (no handle is left open). Queued messages still get their transaction first. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing || this.queue.length > 0) {
      if (!this.flushing) await this.flush();
      else await new Promise((r) => setImmediate(r));
    }
    await this.pool?.close();
    this.pool = undefined;
  }
}

/** The JSON answer to a send frame (relay.md §6.8). */
export function sentJson(requestId: number, o: SendOutcome) {
  return {
    type: 'sent',
    id: requestId,
    messageId: toBase64Url(o.messageId),
    result: o.result,
    recipients: o.recipients,
  };
}
