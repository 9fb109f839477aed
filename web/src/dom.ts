/**
 * A tiny element builder. Text always goes in through `textContent` (strings
 * passed as children become Text nodes), so user data is never parsed as HTML.
 */

type Child = Node | string | null | undefined | false;

interface Props {
  class?: string;
  text?: string;
  /** Plain attributes (`aria-*`, `role`, `type`, `for`, ...). `style` is refused: the CSP forbids it. */
  attrs?: Record<string, string | number | boolean | undefined>;
  on?: { [K in keyof HTMLElementEventMap]?: (ev: HTMLElementEventMap[K]) => void };
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.class) el.className = props.class;
  if (props.text !== undefined) el.textContent = props.text;
  if (props.attrs) setAttrs(el, props.attrs);
  if (props.on) {
    for (const [type, fn] of Object.entries(props.on)) {
      if (fn) el.addEventListener(type, fn as EventListener);
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' ? document.createTextNode(c) : c);
  }
  return el;
}

export function setAttrs(el: Element, attrs: Record<string, string | number | boolean | undefined>): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'style') throw new Error('inline styles are not allowed');
    if (value === undefined || value === false) el.removeAttribute(name);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
}

/** Sets textContent only when it changed (cheap to call on every frame). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Toggles a class only when it changed. */
export function setClass(el: Element, name: string, on: boolean): void {
  if (el.classList.contains(name) !== on) el.classList.toggle(name, on);
}

/** Removes every child of `el`. */
export function clear(el: Element): void {
  el.replaceChildren();
}

/** Initials for an avatar: the first letters of the first two words. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const first = [...(words[0] ?? '?')][0] ?? '?';
  const second = words.length > 1 ? ([...(words[1] ?? '')][0] ?? '') : '';
  return (first + second).toUpperCase();
}

/** A stable hue class (`hue-0` .. `hue-7`) for a login, so avatars keep their colour. */
export function hueClass(seed: string): string {
  let x = 0;
  for (let i = 0; i < seed.length; i++) x = (x * 31 + seed.charCodeAt(i)) | 0;
  return `hue-${Math.abs(x) % 8}`;
}

/** Runs `fn` at most once per animation frame, however often it is requested. */
export class FrameTask {
  private handle = 0;
  constructor(private readonly fn: () => void) {}

  request(): void {
    if (this.handle) return;
    this.handle = requestAnimationFrame(() => {
      this.handle = 0;
      this.fn();
    });
  }

  cancel(): void {
    if (this.handle) cancelAnimationFrame(this.handle);
    this.handle = 0;
  }
}
