/**
 * Overdue seals (DESIGN §4 step 8, A10; docs/spec/workflow.md §9.8): from public log entries alone, anyone can
 * list the requests whose seal date has passed with neither an unseal nor a valid extension. Only verified
 * objects are accepted, so a forged extension cannot hide an overdue seal.
 */
import { equalBytes, toHex } from '../bytes.js';
import type { VerifiedExtension } from './extension.js';
import type { VerifiedRequest } from './request.js';
import type { VerifiedUnseal } from './unseal.js';

export interface OverdueSeal {
  readonly requestId: Uint8Array;
  readonly requestHash: Uint8Array;
  /** The seal-until in force: the request's, or the last one of its unbroken extension chain. */
  readonly sealUntil: number;
  /** now − sealUntil, always > 0. */
  readonly overdueMs: number;
}

/**
 * Lists, in the order given, the requests whose seal-until in force is strictly before `now` (the seal-until
 * instant itself is not yet overdue) and that no unseal opens. The seal-until in force follows the chain of
 * extensions about the same request id and content hash: number 1 extending the request's own seal-until,
 * number 2 extending number 1's new date, and so on; an extension outside that chain is ignored.
 */
export function overdueSeals(
  requests: readonly VerifiedRequest[],
  extensions: readonly VerifiedExtension[],
  unseals: readonly VerifiedUnseal[],
  now: number,
): OverdueSeal[] {
  const unsealed = new Set(unseals.map((u) => toHex(u.unseal.requestHash)));
  const out: OverdueSeal[] = [];
  for (const r of requests) {
    if (unsealed.has(toHex(r.hash))) continue;
    const mine = extensions
      .map((x) => x.extension.statement)
      .filter((s) => equalBytes(s.requestHash, r.hash) && equalBytes(s.requestId, r.request.requestId));
    let sealUntil = r.request.sealUntil;
    for (let n = 1; ; n++) {
      const next = mine.find((s) => s.number === n && s.oldSealUntil === sealUntil);
      if (next === undefined) break;
      sealUntil = next.newSealUntil;
    }
    if (now > sealUntil)
      out.push({
        requestId: r.request.requestId,
        requestHash: r.hash,
        sealUntil,
        overdueMs: now - sealUntil,
      });
  }
  return out;
}
