/// <reference lib="dom" />
/**
 * Building the page's elements: names from the model and the plan always go in as text nodes, never as
 * markup. `h('td', { class: 'num' }, 'text', child)`; `s(...)` the same for SVG elements.
 */
export const SVGNS = 'http://www.w3.org/2000/svg';

type Child = Node | string | number | false | null | undefined;
type Attrs = Record<string, string | number | boolean | undefined>;

function fill<T extends Element>(e: T, attrs: Attrs | undefined, children: Child[]): T {
  for (const [k, v] of Object.entries(attrs ?? {})) if (v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : String(v));
  for (const c of children) {
    if (c === false || c === null || c === undefined) continue;
    e.append(typeof c === 'object' ? c : String(c));
  }
  return e;
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K] {
  return fill(document.createElement(tag), attrs, children);
}

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): SVGElementTagNameMap[K] {
  return fill(document.createElementNS(SVGNS, tag) as SVGElementTagNameMap[K], attrs, children);
}

export const $ = <T extends Element = HTMLElement>(sel: string, root: ParentNode = document) => root.querySelector(sel) as T;

/** State for tests and the benchmark: set on <body> as data attributes. */
export const mark = (k: string, v: string | number) => document.body.setAttribute(`data-${k}`, String(v));
