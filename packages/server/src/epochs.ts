/**
 * Epoch numbers for calendar-month epochs (docs/spec/directory.md §4). The pure functions live in @overt/core
 * (directory/epochs.ts) so the client derives the epoch of a message from its send time exactly as the relay
 * does; they are re-exported here for the relay's modules.
 */
export { calendarMonthEpoch, epochLabel, epochStartMs } from '@overt/core';
