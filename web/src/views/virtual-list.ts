/**
 * A virtualized list with rows of varying height: only the rows in (and just
 * around) the viewport exist in the DOM; two spacers stand in for the rest.
 * Heights are measured once a row is rendered and estimated before that.
 * The view keeps its place when rows are added or dropped above it (anchored
 * to the first visible row), or follows the end when `stickToEnd` is set and
 * the reader is there, as a chat does.
 */
import { FrameTask, h } from '../dom.ts';

export interface VirtualListOptions<T> {
  key(item: T): string;
  create(item: T): HTMLElement;
  /** Brings a rendered row up to date; called on every render of a visible row, so keep it a cheap diff. */
  update(el: HTMLElement, item: T): void;
  estimate(item: T, width: number): number;
  /** Follow the end while the reader is there (chat semantics). */
  stickToEnd: boolean;
  /** Extra pixels rendered above and below the viewport. @default 600 */
  overscan?: number;
  /** Called after each render with the index range that is actually visible (at least half shown). */
  onRendered?(firstVisible: number, lastVisible: number): void;
  /** Class of the element holding the rows. */
  bodyClass?: string;
  bodyAttrs?: Record<string, string>;
}

/** Distance from the end within which the reader counts as "at the end". */
const END_SLACK_PX = 24;

export class VirtualList<T> {
  readonly body: HTMLElement;
  private items: readonly T[] = [];
  /** Measured heights, and estimates for rows not measured yet (both keyed by row key). */
  private readonly heights = new Map<string, number>();
  private readonly estimates = new Map<string, number>();
  private readonly rendered = new Map<string, HTMLElement>();
  private readonly topPad = h('div', { class: 'vl-pad', attrs: { 'aria-hidden': 'true' } });
  private readonly bottomPad = h('div', { class: 'vl-pad', attrs: { 'aria-hidden': 'true' } });
  private offsets = new Float64Array(1);
  /** Row keys and offsets of `items`, valid until the items or the width change. */
  private keys: string[] = [];
  private total = 0;
  private layoutValid = false;
  private atEnd = true;
  private width = 0;
  private readonly frame = new FrameTask(() => this.render());
  private readonly resizeObserver: ResizeObserver;
  /** A key to bring into view on the next render. */
  private reveal: string | null = null;

  constructor(
    readonly scroller: HTMLElement,
    private readonly opt: VirtualListOptions<T>,
  ) {
    this.body = h('div', { class: opt.bodyClass ?? 'vl-body', attrs: opt.bodyAttrs });
    scroller.classList.add('vl-scroller');
    scroller.replaceChildren(this.topPad, this.body, this.bottomPad);
    scroller.addEventListener('scroll', this.onScroll, { passive: true });
    this.resizeObserver = new ResizeObserver(() => {
      const w = this.scroller.clientWidth;
      if (w !== this.width) {
        // Row heights depend on the width; measure again.
        this.width = w;
        this.heights.clear();
        this.estimates.clear();
        this.layoutValid = false;
      }
      this.frame.request();
    });
    this.resizeObserver.observe(scroller);
  }

  /** Whether the reader is at the end (bottom) of the list. */
  get isAtEnd(): boolean {
    return this.atEnd;
  }

  get length(): number {
    return this.items.length;
  }

  setItems(items: readonly T[]): void {
    this.items = items;
    this.layoutValid = false;
    this.frame.request();
  }

  /** Jumps to the end and follows it again. */
  scrollToEnd(): void {
    this.atEnd = true;
    this.frame.request();
  }

  /** Scrolls the row at `index` into view on the next render. */
  revealIndex(index: number): void {
    const item = this.items[index];
    if (item === undefined) return;
    this.reveal = this.opt.key(item);
  }

  /** The rendered element of a row, if it is in the DOM. */
  elementFor(key: string): HTMLElement | undefined {
    return this.rendered.get(key);
  }

  indexOfKey(key: string): number {
    for (let i = 0; i < this.items.length; i++) if (this.opt.key(this.items[i]!) === key) return i;
    return -1;
  }

  destroy(): void {
    this.frame.cancel();
    this.resizeObserver.disconnect();
    this.scroller.removeEventListener('scroll', this.onScroll);
  }

  private readonly onScroll = (): void => {
    const s = this.scroller;
    this.atEnd = s.scrollHeight - s.scrollTop - s.clientHeight <= END_SLACK_PX;
    this.frame.request();
  };

  private heightOf(item: T, key: string): number {
    const measured = this.heights.get(key);
    if (measured !== undefined) return measured;
    let e = this.estimates.get(key);
    if (e === undefined) {
      e = this.opt.estimate(item, this.width || this.scroller.clientWidth);
      this.estimates.set(key, e);
    }
    return e;
  }

  private computeOffsets(keys: string[]): number {
    const n = this.items.length;
    if (this.offsets.length < n + 1)
      this.offsets = new Float64Array(Math.max(n + 1, this.offsets.length * 2));
    const off = this.offsets;
    off[0] = 0;
    for (let i = 0; i < n; i++) off[i + 1] = off[i]! + this.heightOf(this.items[i]!, keys[i]!);
    return off[n]!;
  }

  /** First index whose row ends below `y`. */
  private indexAt(y: number): number {
    const n = this.items.length;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid + 1]! <= y) lo = mid + 1;
      else hi = mid;
    }
    return Math.min(lo, Math.max(0, n - 1));
  }

  /** Renders now (normally called from the owner's animation frame). */
  render(): void {
    this.frame.cancel();
    const s = this.scroller;
    const n = this.items.length;
    if (!this.layoutValid) {
      // Scroll-only renders skip this: keys and offsets stay valid until the items change.
      const keys = new Array<string>(n);
      for (let i = 0; i < n; i++) keys[i] = this.opt.key(this.items[i]!);
      this.keys = keys;
      this.total = this.computeOffsets(keys);
      this.layoutValid = true;
    }
    const keys = this.keys;
    const follow = this.opt.stickToEnd && this.atEnd && !this.reveal;

    // Anchor: the first row visible now, and how far its top is from the viewport top.
    let anchorKey: string | null = null;
    let anchorDelta = 0;
    if (!follow && this.rendered.size) {
      const top = s.getBoundingClientRect().top;
      for (const el of this.body.children) {
        const r = el.getBoundingClientRect();
        if (r.bottom > top) {
          anchorKey = (el as HTMLElement).dataset.key ?? null;
          anchorDelta = r.top - top;
          break;
        }
      }
    }

    let total = this.total;
    const overscan = this.opt.overscan ?? 600;
    const viewH = s.clientHeight || 1;
    let scrollTop = s.scrollTop;
    let start = 0;
    let end = -1;

    for (let pass = 0; pass < 3; pass++) {
      // Where the viewport will be after this render.
      const revealIdx = this.reveal ? keys.indexOf(this.reveal) : -1;
      if (revealIdx >= 0) {
        const top = this.offsets[revealIdx]!;
        const bottom = this.offsets[revealIdx + 1]!;
        if (top < scrollTop) scrollTop = top;
        else if (bottom > scrollTop + viewH) scrollTop = bottom - viewH;
      } else if (follow) {
        scrollTop = Math.max(0, total - viewH);
      } else if (anchorKey !== null) {
        const i = keys.indexOf(anchorKey);
        if (i >= 0) scrollTop = this.offsets[i]! - anchorDelta;
      }
      scrollTop = Math.max(0, Math.min(scrollTop, total - viewH));

      const wantStart = n ? this.indexAt(Math.max(0, scrollTop - overscan)) : 0;
      const wantEnd = n ? this.indexAt(scrollTop + viewH + overscan) : -1;
      if (pass > 0 && wantStart >= start && wantEnd <= end) break;
      start = wantStart;
      end = wantEnd;
      this.reconcile(keys, start, end);
      this.topPad.style.height = `${this.offsets[start] ?? 0}px`;
      this.bottomPad.style.height = `${Math.max(0, total - (this.offsets[end + 1] ?? total))}px`;

      // Measure what was rendered (one layout for all rows).
      let changed = false;
      for (let i = start; i <= end; i++) {
        const el = this.rendered.get(keys[i]!);
        if (!el) continue;
        const hgt = el.offsetHeight;
        if (hgt > 0 && this.heights.get(keys[i]!) !== hgt) {
          this.heights.set(keys[i]!, hgt);
          changed = true;
        }
      }
      if (!changed) break;
      total = this.total = this.computeOffsets(keys);
      this.topPad.style.height = `${this.offsets[start] ?? 0}px`;
      this.bottomPad.style.height = `${Math.max(0, total - (this.offsets[end + 1] ?? total))}px`;
    }

    if (follow) {
      s.scrollTop = s.scrollHeight;
    } else if (Math.abs(s.scrollTop - scrollTop) >= 1) {
      s.scrollTop = scrollTop;
    }
    this.reveal = null;
    if (this.heights.size + this.estimates.size > 3 * n + 400) this.pruneHeights(keys);

    if (this.opt.onRendered && n) {
      const top = s.scrollTop;
      const bottom = top + viewH;
      let first = -1;
      let last = -1;
      for (let i = start; i <= end; i++) {
        const mid = (this.offsets[i]! + this.offsets[i + 1]!) / 2;
        if (mid >= top && mid <= bottom) {
          if (first < 0) first = i;
          last = i;
        }
      }
      this.opt.onRendered(first, last);
    }
  }

  private reconcile(keys: string[], start: number, end: number): void {
    const want = new Set<string>();
    for (let i = start; i <= end; i++) want.add(keys[i]!);
    for (const [key, el] of this.rendered) {
      if (!want.has(key)) {
        el.remove();
        this.rendered.delete(key);
      }
    }
    let prev: Element | null = null;
    for (let i = start; i <= end; i++) {
      const key = keys[i]!;
      const item = this.items[i]!;
      let el = this.rendered.get(key);
      if (!el) {
        el = this.opt.create(item);
        el.dataset.key = key;
        this.rendered.set(key, el);
      }
      this.opt.update(el, item);
      const expected: Element | null = prev ? prev.nextElementSibling : this.body.firstElementChild;
      if (expected !== el) {
        if (prev) prev.after(el);
        else this.body.prepend(el);
      }
      prev = el;
    }
  }

  private pruneHeights(keys: string[]): void {
    const live = new Set(keys);
    for (const k of this.heights.keys()) if (!live.has(k)) this.heights.delete(k);
    for (const k of this.estimates.keys()) if (!live.has(k)) this.estimates.delete(k);
  }
}
