/**
 * @overt/up — the all-in-one start of `npm start` and `overt up` (docs/spec/start.md): the relay with the log in
 * its process, two witnesses and three trustee daemons as child processes, each with its own data directory, on
 * SQLite under ./data. The relay package imports neither the witness nor the trustee package; this one does.
 */

export { isStandaloneError, StandaloneError } from './errors.js';
export {
  type DeploymentWitness,
  type InitOptions,
  type InitResult,
  initDeployment,
  POLICY_FILE,
  RELAY_CONFIG_FILE,
  readDeployment,
} from './init.js';
export { type MainHooks, main, nextSteps } from './main.js';
export {
  DEFAULT_LIMITS,
  DEFAULT_RETENTION_MS,
  type PolicyTrustee,
  REQUESTER_ID,
  REQUESTER_SECRET_BYTES,
  requesterKeysFromSecret,
} from './policy.js';
export {
  DEFAULT_DB_SCHEMA,
  type RelayHealth,
  type RelayNodeOptions,
  type RunningRelayNode,
  startRelayNode,
} from './relay-node.js';
export { type RunningSystem, type SystemOptions, startSystem } from './system.js';
