/**
 * Child processes for tests that leave nothing running, whatever happens to the test (common rule: tests stop every
 * process and free every port they start, also when they fail or time out).
 *
 * Every child is started in its own process group (`detached`), so it and everything it starts — `npm start`'s
 * witness processes, a launcher's tsx child — can be signalled together with `kill(-pgid)`; a process whose parent
 * died is still in the group. Every group is kept in a registry until no process of it is left:
 * - started inside a test (or its beforeEach), the group is stopped when that test finishes, passed or failed
 *   or timed out (vitest's `onTestFinished`);
 * - started in a beforeAll, the file's `afterAll(stopAllChildren)` stops it (call {@link stopChildrenAfterAll}
 *   at the top of the file, or from a helper module the file imports);
 * - if the test process exits with groups still registered (a crash, an interrupted run), they get SIGKILL
 *   from the process's `exit` handler.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { afterAll, onTestFinished } from 'vitest';

/** Running process groups, by the leader's pid (= the group id). */
const groups = new Map<number, ChildProcess>();

/** Whether a process with this pid exists (signal 0 tests for existence without signalling). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether any process of the group led by `pgid` is left (the leader may be gone while its children are not). */
export function groupAlive(pgid: number): boolean {
  return pidAlive(-pgid);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // Nothing left in the group.
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let exitHandler = false;

/**
 * Spawns `command` in a new process group and registers it (see the module comment for when it is stopped).
 * `detached` is forced on; the other options are node's.
 */
export function spawnChild(
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  const child = spawn(command, [...args], { ...options, detached: true });
  const pgid = child.pid;
  if (pgid === undefined) return child; // Spawning failed: `error` is emitted, nothing runs.
  groups.set(pgid, child);
  if (!exitHandler) {
    exitHandler = true;
    process.once('exit', () => {
      for (const g of groups.keys()) signalGroup(g, 'SIGKILL');
    });
  }
  try {
    onTestFinished(() => stopChild(child));
  } catch {
    // Not inside a test (a beforeAll): stopAllChildren in the file's afterAll stops it.
  }
  return child;
}

/**
 * Stops a child's whole process group: `signal` (default SIGTERM) to every process of it — or, with `leader`, to
 * the leader only, which then stops its own children as in production — and SIGKILL to whatever is left after
 * `graceMs` (default 5 s). Resolves once no process of the group is left and the leader's exit was seen, so its
 * ports are free. Safe to call more than once, and after the child exited by itself.
 */
export async function stopChild(
  child: ChildProcess,
  options: { signal?: NodeJS.Signals; graceMs?: number; leader?: boolean } = {},
): Promise<void> {
  const pgid = child.pid;
  if (pgid === undefined) return;
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((r) => child.once('exit', () => r()));
  if (groupAlive(pgid)) {
    if (options.leader === true) child.kill(options.signal ?? 'SIGTERM');
    else signalGroup(pgid, options.signal ?? 'SIGTERM');
    const deadline = Date.now() + (options.graceMs ?? 5_000);
    while (groupAlive(pgid) && Date.now() < deadline) await sleep(20);
    if (groupAlive(pgid)) {
      signalGroup(pgid, 'SIGKILL');
      // SIGKILL cannot be caught; the kernel reaps the group promptly.
      for (let i = 0; i < 250 && groupAlive(pgid); i++) await sleep(20);
    }
  }
  await exited;
  groups.delete(pgid);
}

/** Stops every registered group that is still running. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...groups.values()].map((c) => stopChild(c)));
}

/** The process groups registered and still alive (what a leak check looks at). */
export function runningChildren(): number[] {
  return [...groups.keys()].filter(groupAlive);
}

/** Registers `afterAll(stopAllChildren)` in the calling test file (call it at the file's top level). */
export function stopChildrenAfterAll(): void {
  afterAll(stopAllChildren);
}
