/**
 * Every part of the benchmark suite, in the order `npm run bench` runs them (the cheapest first, the relay and
 * the warrant last). A part's name is what `npm run bench -- <name>` selects.
 */
import type { Part } from '../part.js';
import { mls, relayE2e } from './client.js';
import { coreCapsule, coreDkg, coreEnvelope } from './core.js';
import { ktMap } from './kt-map.js';
import { logMerkle, logService } from './log.js';
import { access, cliStartup, frankingStamp, scaleWarrant } from './other.js';
import { peers } from './peers.js';
import { relayCapacity } from './relay.js';
import { scaleGroup, scaleLog, scaleMessage, scaleTrustees } from './scale.js';

export const PARTS: readonly Part[] = [
  coreCapsule,
  coreEnvelope,
  coreDkg,
  logMerkle,
  logService,
  mls,
  relayE2e,
  relayCapacity,
  peers,
  frankingStamp,
  ktMap,
  cliStartup,
  access,
  scaleMessage,
  scaleLog,
  scaleGroup,
  scaleTrustees,
  scaleWarrant,
];
