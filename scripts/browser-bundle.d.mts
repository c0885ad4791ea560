import type { Metafile } from 'esbuild';
/** The browser build (scripts/browser-bundle.mjs): written to `outfile` when given, its text returned otherwise. */
export function bundleBrowser(options?: { outfile?: string; minify?: boolean }): Promise<{ text: string | undefined; metafile: Metafile }>;
