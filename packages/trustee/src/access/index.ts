/**
 * The trustee's access half (docs/spec/access.md §2, §5, §6): its view of the log, the review of requests, the
 * release rule and the operator API routes.
 */
export { AccessError, type AccessErrorCode, isAccessError } from './errors.js';
export { type AccessRelay, ENVELOPE_PAGE, type EnvelopePage, type ServedEnvelope } from './relay.js';
export { type ReleaseOptions, type ReleaseOutcome, ReleaseRule, watchReleases } from './release.js';
export { Review, type ReviewItem, type ReviewOptions } from './review.js';
export {
  type AccessRoutes,
  accessRoutes,
  handleAccessRoute,
  mountAccessRoutes,
  parseDecisionBody,
  parseRequestId,
  type RouteResult,
  type RouterLike,
} from './routes.js';
export { ACCESS_DB, AccessService, type AccessServiceOptions } from './service.js';
export { AccessTracker, type TrackerConfig } from './state.js';
export { AccessStore } from './store.js';
