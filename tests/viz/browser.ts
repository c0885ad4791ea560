/**
 * Debian's chromium driven by playwright-core (no browser download): the page under test is opened
 * from disk, with every request that is not file:, data: or blob: recorded (there must be none).
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
export const chromiumMissing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: install Debian's chromium (sudo scripts/setup-browser.sh)`;

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--allow-file-access-from-files'],
  });
}

export interface Opened {
  page: Page;
  errors: string[];
  requests: string[];
}

/** Opens an HTML file; collects console errors, page errors and non-local requests. */
export async function open(browser: Browser, file: string, size = { width: 1400, height: 900 }): Promise<Opened> {
  const context = await browser.newContext({ viewport: size });
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => {
    if (!/^(file|data|blob|about):/.test(r.url())) requests.push(r.url());
  });
  await page.goto(pathToFileURL(file).href);
  return { page, errors, requests };
}
