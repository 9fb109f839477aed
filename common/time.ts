/** RFC 3339 UTC with milliseconds, as API.md requires; null stays null. */
export function isoTime(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined || ms <= 0) return null;
  // Messages stored in the same millisecond are common under load: reuse the last rendering.
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}

let lastIsoMs = -1;
let lastIso = '';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
