/**
 * The body of one capsule-check worker thread (relay.md §6.8): runs core's envelope ingest check (sender
 * signature ENV-20, capsule validity ENV-18, ciphertext digest ENV-12, and core's header checks again) off the relay's event loop. It
 * receives batches of {@link CheckRequest}s and answers each batch with one {@link CheckResult} per item, in order,
 * plus the time the batch kept the thread busy (what the checks cost).
 */
import { parentPort } from 'node:worker_threads';
import { decodeElement, ingestEnvelope, isOvertError } from '@overt/core';
import type { CheckBatch, CheckBatchResult, CheckResult } from './check-protocol.js';

async function checkOne(req: CheckBatch['items'][number]): Promise<CheckResult> {
  try {
    await ingestEnvelope(req.envelope, {
      orgId: req.orgId,
      epoch: req.epoch,
      epochKey: decodeElement(req.epochKey, 'epoch key'),
      senderUserId: req.senderUserId,
      senderDeviceId: req.senderDeviceId,
      senderKey: req.senderKey,
      now: req.now,
      maxClockSkewMs: req.maxClockSkewMs,
      maxPayloadBytes: req.maxPayloadBytes,
      members: req.members,
    });
    return { ok: true };
  } catch (e) {
    if (isOvertError(e)) return { ok: false, code: e.code, ...(e.check ? { check: e.check } : {}) };
    return { ok: false, code: 'INTERNAL' };
  }
}

const port = parentPort;
if (port === null) throw new Error('capsule-worker runs as a worker thread');
port.on('message', async (batch: CheckBatch) => {
  const started = performance.now();
  const results: CheckResult[] = [];
  for (const item of batch.items) results.push(await checkOne(item));
  const reply: CheckBatchResult = { id: batch.id, results, busyMs: performance.now() - started };
  port.postMessage(reply);
});
port.postMessage({ ready: true });
