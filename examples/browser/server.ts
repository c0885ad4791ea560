/**
 * The browser example's static server, on 127.0.0.1 only (Node's http, nothing else):
 *   /               examples/browser (index.html, app.js)
 *   /tessera.js     the browser build, bundled from the current source when the server starts
 *   /ort/…          onnxruntime-web's wasm files from node_modules
 *   /tfjs/…         tfjs-backend-wasm's wasm files from node_modules
 *   /models/…       the corpus models (../shared/corpus/models), read-only; /models/ lists them
 * GET and HEAD only, byte ranges served (`Range: bytes=a-b`, one range), no path outside those
 * directories. Every response is cross-origin isolated (COOP same-origin, COEP require-corp), so
 * onnxruntime-web runs on worker threads.
 *
 *   npx tsx examples/browser/server.ts [port]     then open the URL it prints
 */
import { createReadStream, existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleBrowser } from '../../scripts/browser-bundle.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const require = createRequire(import.meta.url);

export const MODELS_DIR = resolve(ROOT, '../shared/corpus/models');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json', '.onnx': 'application/octet-stream', '.txt': 'text/plain; charset=utf-8', '.css': 'text/css',
};

export interface ServerOptions {
  port?: number;
  /** The corpus models directory (default ../shared/corpus/models). */
  models?: string;
}

export interface Served {
  url: string;
  server: Server;
  /** Requests served, for tests: method, path and status. */
  log: { method: string; path: string; status: number; range?: string }[];
  close(): Promise<void>;
}

/** Where each URL prefix is served from. */
function mounts(models: string): [string, string][] {
  return [
    ['/ort/', dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'))],
    ['/tfjs/', dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))],
    ['/models/', models],
    ['/', fileURLToPath(new URL('.', import.meta.url))],
  ];
}

/** The real path of a URL path under a directory, or undefined when it is not a file inside it. */
function fileUnder(dir: string, rel: string): string | undefined {
  const named = resolve(dir, `.${sep}${decodeURIComponent(rel)}`);
  const base = realpathSync(dir);
  if (!existsSync(named)) return undefined;
  const real = realpathSync(named);
  if (real !== base && !real.startsWith(base + sep)) return undefined;
  return statSync(real).isFile() ? real : undefined;
}

export async function startServer(options: ServerOptions = {}): Promise<Served> {
  const models = options.models ?? MODELS_DIR;
  const { text: bundle } = await bundleBrowser({ minify: false });
  const log: Served['log'] = [];
  const table = mounts(models);

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const entry = { method: req.method ?? '', path, status: 200, ...(req.headers.range ? { range: req.headers.range } : {}) };
    log.push(entry);
    const send = (status: number, body: string | Buffer, type = 'text/plain; charset=utf-8', extra: Record<string, string | number> = {}) => {
      entry.status = status;
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'GET and HEAD only\n', undefined, { Allow: 'GET, HEAD' });
    if (path === '/tessera.js') return send(200, bundle!, TYPES['.js']);
    if (path === '/models/') {
      const list = readdirSync(models).filter((f) => f.endsWith('.onnx')).sort().map((f) => ({ name: f.slice(0, -5), url: `/models/${f}`, bytes: statSync(join(models, f)).size }));
      return send(200, JSON.stringify(list), TYPES['.json']);
    }
    const [prefix, dir] = table.find(([p]) => path.startsWith(p))!;
    const file = fileUnder(dir, path.slice(prefix.length) || 'index.html');
    if (!file || (prefix === '/' && !/\.(html|js|css)$/.test(file))) return send(404, `not found: ${path}\n`);
    const size = statSync(file).size;
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0, end = size - 1, status = 200;
    const headers: Record<string, string | number> = { 'Content-Type': type, 'Accept-Ranges': 'bytes' };
    if (req.headers.range) {
      if (!m || Number(m[1]) >= size) return send(416, 'unsatisfiable range\n', undefined, { 'Content-Range': `bytes */${size}` });
      start = Number(m[1]);
      end = Math.min(size - 1, m[2] ? Number(m[2]) : size - 1);
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['Content-Length'] = end - start + 1;
    entry.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return res.end();
    createReadStream(file, { start, end }).pipe(res);
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`server error: ${(err as Error).message}\n`);
    }
  });
  await new Promise<void>((ok) => server.listen(options.port ?? 0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url, server, log, close: () => new Promise((ok) => server.close(() => ok())) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const s = await startServer({ port: Number(process.argv[2] ?? 8080) });
  console.log(`Tessera browser example: ${s.url} (Ctrl-C to stop)`);
}
