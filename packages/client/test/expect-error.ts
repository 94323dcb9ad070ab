/**
 * Assertions on our typed errors: a rejection must be a ClientError with the given code (and check ID), never a
 * TypeError, RangeError or an engine exception.
 */
import { expect } from 'vitest';
import { ClientError, type ClientErrorCode } from '../src/index.js';

export async function expectClientError(
  p: Promise<unknown> | (() => unknown),
  code: ClientErrorCode,
  check?: string,
): Promise<ClientError> {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    error = e;
  }
  expect(error, `expected ${code}`).toBeInstanceOf(ClientError);
  const ce = error as ClientError;
  expect(ce.code).toBe(code);
  if (check !== undefined) expect(ce.check).toBe(check);
  return ce;
}

/** Runs `f`; it may succeed, but if it throws, the error must be one of ours. */
export async function onlyClientErrors(f: () => Promise<unknown>): Promise<'ok' | ClientError> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    if (!(e instanceof ClientError)) throw new Error(`non-ClientError escaped: ${String(e)}`, { cause: e });
    return e;
  }
}
