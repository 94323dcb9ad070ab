/**
 * One real relay world (relay-world.ts) per test file: started before the file's tests, closed after them. Kept
 * apart from relay-world.ts, which the benchmarks import outside vitest.
 */
import { utf8Decode } from '@overt/core';
import { afterAll, beforeAll } from 'vitest';
import type { ClientEvent } from '../src/index.js';
import { startWorld, type World, type WorldOptions } from './relay-world.js';

/**
 * Registers the file's `beforeAll` (start) and `afterAll` (close) and returns the world, usable inside the
 * tests: a view that reads every property from the started world, so test code can be written as `w.device(…)`.
 */
export function useWorld(options: WorldOptions = {}): World {
  let world: World | undefined;
  beforeAll(async () => {
    world = await startWorld(options);
  });
  afterAll(async () => {
    await world?.close();
  });
  return new Proxy({} as World, {
    get(_target, property) {
      if (!world) throw new Error('the relay world starts in beforeAll: use it inside a test');
      return Reflect.get(world, property);
    },
  });
}

/** The text of every message among `events`, in order. */
export function texts(events: ClientEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'message' ? [utf8Decode(e.payload)] : []));
}
