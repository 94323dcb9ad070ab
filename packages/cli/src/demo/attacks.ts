/**
 * PLACEHOLDER so that the demo's branch compiles: the real attacks (A1–A16) are written on another branch and
 * replace this file at merge. It attempts nothing and reports nothing.
 */
import type { RunAttacks } from './attack-types.js';

export const runAttacks: RunAttacks = async () => [];
