/**
 * Message franking (Grubbs–Lu–Ristenpart 2017): the commitment the sender puts in every header, the relay's
 * stamp, and the abuse report a recipient sends and the organisation verifies (docs/spec/franking.md).
 */
export * from './commitment.js';
export * from './report.js';
