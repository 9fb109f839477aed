/**
 * Length of `s` in code points, as API.md counts characters: what `[...s].length` returns (a
 * lone surrogate counts as one), without building an array of the characters.
 */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** True when `s` has more than `max` code points; O(1) when its UTF-16 length is within `max`. */
export function longerThan(s: string, max: number): boolean {
  return s.length > max && codePointLength(s) > max;
}
