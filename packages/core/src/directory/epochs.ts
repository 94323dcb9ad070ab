/**
 * Epoch numbers for calendar-month epochs, shared by the relay (which epoch is current, RLY-11/RLY-17), the
 * standalone start (which epochs to publish ahead of time) and the client (which epoch key to seal a message to:
 * the epoch of its send time, so a message sent on the last second of a month is sealed to that month's key
 * whatever the relay calls current). DESIGN §3: the epoch length is a calendar month by default; epoch e covers
 * the UTC month that is e months after January 1970, so e = 12·(year − 1970) + month − 1 (docs/spec/directory.md
 * §4). The number is a u32 in every statement and header that carries it. Inputs are milliseconds since the Unix
 * epoch that the caller has already bounded, so `Date` never sees an out-of-range value.
 */

/** The calendar-month epoch whose window contains `ms` (milliseconds since the Unix epoch, UTC). */
export function calendarMonthEpoch(ms: number): number {
  const d = new Date(ms);
  return (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth();
}

/** The first millisecond of epoch `epoch` (its window is [epochStartMs(e), epochStartMs(e + 1))). */
export function epochStartMs(epoch: number): number {
  return Date.UTC(1970 + Math.floor(epoch / 12), epoch % 12, 1);
}

/** `YYYY-MM` of an epoch, for people. */
export function epochLabel(epoch: number): string {
  const year = 1970 + Math.floor(epoch / 12);
  return `${year}-${String((epoch % 12) + 1).padStart(2, '0')}`;
}
