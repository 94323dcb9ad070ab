/**
 * Epoch numbers for calendar-month epochs (docs/spec/start.md §3; DESIGN §3 "epoch length (default a calendar
 * month)"): epoch e covers the UTC month that is e months after January 1970, so e = 12·(year − 1970) + month − 1.
 * The number is a u32 in every statement and header that carries it.
 */

/** The calendar-month epoch containing `ms` (milliseconds since the Unix epoch). */
export function calendarMonthEpoch(ms: number): number {
  const d = new Date(ms);
  return (d.getUTCFullYear() - 1970) * 12 + d.getUTCMonth();
}

/** The first millisecond of epoch `epoch`. */
export function epochStartMs(epoch: number): number {
  return Date.UTC(1970 + Math.floor(epoch / 12), epoch % 12, 1);
}

/** `YYYY-MM` of an epoch, for people. */
export function epochLabel(epoch: number): string {
  const year = 1970 + Math.floor(epoch / 12);
  return `${year}-${String((epoch % 12) + 1).padStart(2, '0')}`;
}
