/** Human-readable times, formatted locally with Intl (no network, no libraries). */

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const dateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const fullDateFmt = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const longFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

const DAY = 24 * 3600 * 1000;

function startOfDay(t: number): number {
  const d = new Date(t);
  d.setHours(0, 0, 0, 0);
  return d.getTime();
}

/** Clock time of a message: `14:05`. */
export function clockTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : timeFmt.format(t);
}

/** Full date and time, for tooltips and screen readers. */
export function longTime(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? '' : longFmt.format(t);
}

/** Time of a chat's last message in the list: today a clock time, this week a weekday, else a date. */
export function listTime(iso: string | null, now = Date.now()): string {
  if (!iso) return '';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const today = startOfDay(now);
  if (t >= today) return timeFmt.format(t);
  if (t >= today - 6 * DAY) return weekdayFmt.format(t);
  return new Date(t).getFullYear() === new Date(now).getFullYear()
    ? dateFmt.format(t)
    : fullDateFmt.format(t);
}

/** "online", "last seen 5 min ago", "last seen yesterday at 14:05", or "offline" when never seen. */
export function presenceText(
  isOnline: boolean | undefined,
  lastSeen: string | null | undefined,
  now = Date.now(),
): string {
  if (isOnline) return 'online';
  if (!lastSeen) return 'offline';
  const t = Date.parse(lastSeen);
  if (Number.isNaN(t)) return 'offline';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return 'last seen just now';
  if (s < 3600) return `last seen ${Math.floor(s / 60)} min ago`;
  const today = startOfDay(now);
  if (t >= today) return `last seen today at ${timeFmt.format(t)}`;
  if (t >= today - DAY) return `last seen yesterday at ${timeFmt.format(t)}`;
  return `last seen ${dateFmt.format(t)}`;
}

/** Code points, as the server counts text length. */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
