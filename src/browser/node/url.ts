/** `node:url` in the browser bundle: a file: URL's path (targets/index.ts computes a directory from its module's URL at load). */
export function fileURLToPath(url: string | URL): string {
  return decodeURIComponent(new URL(String(url)).pathname);
}
export function pathToFileURL(path: string): URL {
  return new URL(`file://${encodeURI(path)}`);
}
