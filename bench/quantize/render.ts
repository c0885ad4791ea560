/**
 * Text rendered in headless Chromium (Debian's /usr/bin/chromium through playwright-core) with the fonts
 * Debian ships: single lines 48 px high for the recognizer, pages of lines for the detector. Returns RGB
 * bytes (row-major, 3 bytes a pixel), and for pages the box of every line.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumMissing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: install Debian's chromium (sudo scripts/setup-browser.sh)`;

/** DejaVu (fonts-dejavu-core), Liberation (fonts-liberation), Noto (fonts-noto-core). */
export const FONTS = ['DejaVu Sans', 'DejaVu Serif', 'DejaVu Sans Mono', 'Liberation Sans', 'Liberation Serif', 'Liberation Mono', 'Noto Sans', 'Noto Serif'];

export interface LineStyle { font: string; size: number; ink: number; paper: number }
export interface Image { width: number; height: number; rgb: Uint8Array }
export interface PageLine { text: string; x: number; y: number; style: LineStyle }
export interface Box { x0: number; y0: number; x1: number; y1: number }

const fromBase64 = (b: string) => new Uint8Array(Buffer.from(b, 'base64'));

export class Renderer {
  private constructor(private readonly browser: Browser, private readonly page: Page) {}

  static async start(): Promise<Renderer> {
    if (chromiumMissing) throw new Error(chromiumMissing);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--font-render-hinting=none'] });
    const page = await browser.newPage();
    await page.setContent('<canvas id="c"></canvas>');
    return new Renderer(browser, page);
  }

  /** Which fonts the browser really has (a missing family would silently fall back to another). */
  async availableFonts(): Promise<string[]> {
    const out: string[] = [];
    for (const f of FONTS) if (await this.page.evaluate((f) => document.fonts.check(`20px "${f}"`) && (() => {
      const c = document.createElement('canvas').getContext('2d')!;
      c.font = `40px "${f}", monospace`; const a = c.measureText('mmmiiiWW').width;
      c.font = '40px monospace'; const b = c.measureText('mmmiiiWW').width;
      return f.includes('Mono') || a !== b;
    })(), f)) out.push(f);
    return out;
  }

  /** One line, 48 px high, its width the text's rounded up to a multiple of 8 (at least 64). */
  async line(text: string, style: LineStyle): Promise<Image> {
    return this.page.evaluate(({ text, style }) => {
      const c = document.getElementById('c') as HTMLCanvasElement;
      const ctx = c.getContext('2d', { willReadFrequently: true })!;
      ctx.font = `${style.size}px "${style.font}"`;
      const w = Math.max(64, Math.ceil((ctx.measureText(text).width + 12) / 8) * 8);
      c.width = w; c.height = 48;
      ctx.fillStyle = `rgb(${style.paper},${style.paper},${style.paper})`; ctx.fillRect(0, 0, w, 48);
      ctx.font = `${style.size}px "${style.font}"`;
      ctx.fillStyle = `rgb(${style.ink},${style.ink},${style.ink})`; ctx.textBaseline = 'middle';
      ctx.fillText(text, 6, 24);
      const d = ctx.getImageData(0, 0, w, 48).data;
      let s = '';
      for (let i = 0; i < d.length; i += 4) s += String.fromCharCode(d[i], d[i + 1], d[i + 2]);
      return { width: w, height: 48, rgb: btoa(s) };
    }, { text, style }).then((r) => ({ width: r.width, height: r.height, rgb: fromBase64(r.rgb) }));
  }

  /** A page: lines drawn at their places on a light background; the box of each line's ink. */
  async renderPage(width: number, height: number, paper: number, lines: readonly PageLine[]): Promise<Image & { boxes: Box[] }> {
    return this.page.evaluate(({ width, height, paper, lines }) => {
      const c = document.getElementById('c') as HTMLCanvasElement;
      c.width = width; c.height = height;
      const ctx = c.getContext('2d', { willReadFrequently: true })!;
      ctx.fillStyle = `rgb(${paper},${paper},${paper})`; ctx.fillRect(0, 0, width, height);
      const boxes = lines.map((l) => {
        ctx.font = `${l.style.size}px "${l.style.font}"`;
        ctx.fillStyle = `rgb(${l.style.ink},${l.style.ink},${l.style.ink})`; ctx.textBaseline = 'alphabetic';
        ctx.fillText(l.text, l.x, l.y);
        const m = ctx.measureText(l.text);
        return { x0: l.x, y0: l.y - m.actualBoundingBoxAscent, x1: l.x + m.width, y1: l.y + m.actualBoundingBoxDescent };
      });
      const d = ctx.getImageData(0, 0, width, height).data;
      const parts: string[] = [];
      for (let i = 0; i < d.length; i += 4 * 4096) {
        let s = '';
        for (let k = i; k < Math.min(d.length, i + 4 * 4096); k += 4) s += String.fromCharCode(d[k], d[k + 1], d[k + 2]);
        parts.push(s);
      }
      return { width, height, rgb: btoa(parts.join('')), boxes };
    }, { width, height, paper, lines }).then((r) => ({ width: r.width, height: r.height, rgb: fromBase64(r.rgb), boxes: r.boxes }));
  }

  /** Width in px of a text in a style (for laying out pages). */
  async measure(text: string, style: LineStyle): Promise<number> {
    return this.page.evaluate(({ text, style }) => {
      const ctx = (document.getElementById('c') as HTMLCanvasElement).getContext('2d')!;
      ctx.font = `${style.size}px "${style.font}"`;
      return ctx.measureText(text).width;
    }, { text, style });
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}
