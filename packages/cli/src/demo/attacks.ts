/**
 * `overt demo`'s attacks (issue #12; docs/spec/demo-attacks.md): DESIGN §6's A1–A16, each attempted against the
 * live system the way its attacker would, each reported as blocked or detected only when the demo saw the refusal
 * or the alert, with its check ID (attack-types.ts). The attacks live under ./attacks/: world.ts (the parties'
 * keys and throwaway people), access.ts (A1–A4, A8–A11, A13), clients.ts (A5–A7, A12, A14–A16).
 *
 * An attack the demo could not carry out (an unexpected error) is reported `not-stopped`, with the error, so the
 * demo never claims a defence it did not see work.
 */
import { ATTACK_IDS, type AttackId, type AttackResult, type RunAttacks } from './attack-types.js';
import { AccessScene, a1, a2, a3, a4, a8, a9, a10, a11, a13 } from './attacks/access.js';
import { a5, a6, a7, a12, a14, a15, a16, ClientScene } from './attacks/clients.js';
import { AttackWorld } from './attacks/world.js';

type Outcome = Omit<AttackResult, 'id'>;

export const runAttacks: RunAttacks = async (ctx) => {
  let world: AttackWorld;
  try {
    world = await AttackWorld.open(ctx);
  } catch (e) {
    // Without the system's keys no attack can be made: each one is reported as not seen to fail.
    const why = `the demo could not reach the system's parties: ${e instanceof Error ? e.message : String(e)}`;
    return ATTACK_IDS.map((id) => {
      const result: AttackResult = { id, outcome: 'not-stopped', attempt: `attack ${id}`, seen: why };
      ctx.onResult?.(result);
      return result;
    });
  }
  const access = new AccessScene(world);
  const clients = new ClientScene(world);
  const plan: [AttackId, string, () => Promise<Outcome>][] = [
    ['A1', 'the relay operator reads data covertly', () => a1(access)],
    ['A2', 'k − 1 trustees pool their shares', () => a2(access)],
    ['A3', 'envelopes beyond the request’s scope', () => a3(access)],
    ['A4', 'the relay re-labels an envelope into scope', () => a4(access)],
    ['A5', 'a sender skips the escrow', () => a5(clients)],
    ['A6', 'the relay adds a ghost device', () => a6(clients)],
    ['A7', 'the log shows different histories', () => a7(clients)],
    ['A8', 'an approval replayed onto another request', () => a8(access)],
    ['A9', 'a trustee returns a bad share', () => a9(access)],
    ['A10', 'a seal never lifted', () => a10(access)],
    ['A11', 'a population-scale request', () => a11(access)],
    ['A12', 'a forged abuse report', () => a12(clients)],
    ['A13', 'a shredded epoch opened', () => a13(access)],
    ['A14', 'the admin mints an epoch key', () => a14(clients)],
    ['A15', 'an envelope attributed to someone else', () => a15(clients)],
    ['A16', 'a relay freezes one party’s view', () => a16(clients)],
  ];
  const results: AttackResult[] = [];
  try {
    for (const [id, what, attack] of plan) {
      let result: AttackResult;
      try {
        result = { id, ...(await attack()) };
      } catch (e) {
        result = {
          id,
          outcome: 'not-stopped',
          attempt: what,
          seen: `the demo could not carry out this attack: ${e instanceof Error ? e.message : String(e)}`,
        };
      }
      results.push(result);
      ctx.onResult?.(result);
    }
  } finally {
    await world.close();
  }
  return results;
};
