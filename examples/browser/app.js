// The browser example: pick a corpus model or drop a file, run it with Tessera's plan for this page, and
// see the plan viewer with the measured timeline of that run. `window.example` is what the tests drive.
import * as tessera from '/tessera.js';

const $ = (id) => document.getElementById(id);
const status = (s) => ($('status').textContent = s);
const row = (cells, cls = []) => `<tr>${cells.map((c, i) => `<td class="${cls[i] ?? ''}">${String(c).replace(/[<&>]/g, (x) => `&#${x.charCodeAt(0)};`)}</td>`).join('')}</tr>`;

const ARRAYS = { float32: Float32Array, float64: Float64Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array, int8: Int8Array, bool: Uint8Array, int16: Int16Array, uint16: Uint16Array, float16: Uint16Array };

const toB64 = (bytes) => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};
const fromB64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

/** A tensor from { type, dims, b64 } (how the tests hand feeds over). */
function tensorOf({ type, dims, b64 }) {
  const bytes = fromB64(b64);
  const A = ARRAYS[type];
  return new tessera.Tensor(type, new A(bytes.buffer, 0, bytes.byteLength / A.BYTES_PER_ELEMENT), dims);
}

/**
 * Inputs for the corpus models, as their callers feed them (../shared/corpus/models/*.json, realisticInput):
 * name → [dtype, dims, what]; silero's rate picks its branch, so even the probe run for shapes takes these.
 */
const SILERO_V5 = { input: ['float32', [1, 576], 'wave'], state: ['float32', [2, 1, 128], 0], sr: ['int64', [], 16000] };
const CORPUS_INPUTS = {
  'silero-vad-v5': SILERO_V5,
  'silero-vad-op18-ifless': SILERO_V5,
  'silero-vad-v4-legacy': { input: ['float32', [1, 512], 'wave'], sr: ['int64', [], 16000], h: ['float32', [2, 1, 64], 0], c: ['float32', [2, 1, 64], 0] },
  'ppocr-v4-det': { x: ['float32', [1, 3, 320, 320], 'wave'] },
  'ppocr-v4-rec': { x: ['float32', [1, 3, 48, 320], 'wave'] },
  'wakeword-hello-deepa': { 'onnx::Flatten_0': ['float32', [1, 25, 96], 'wave'] },
};

function corpusFeeds(url) {
  const spec = CORPUS_INPUTS[String(url).split('/').pop().replace(/\.onnx$/, '')];
  if (!spec) return undefined;
  const feeds = {};
  for (const [name, [type, dims, what]] of Object.entries(spec)) {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = type === 'int64' ? BigInt64Array.from({ length: n }, () => BigInt(what)) : Float32Array.from({ length: n }, (_, i) => (what === 'wave' ? 0.5 * Math.sin(i * 0.05) : what));
    feeds[name] = new tessera.Tensor(type, data, dims);
  }
  return feeds;
}

/** Deterministic inputs for a session's graph, for a model dropped in the page. */
function sampleFeeds(session) {
  const feeds = {};
  for (const name of session.inputNames) {
    const v = session.graph.values.get(name);
    const dims = session.graph.inputShapes[name] ?? v.shape.map((d) => (typeof d === 'number' ? d : 1));
    const n = dims.reduce((a, b) => a * b, 1);
    const A = ARRAYS[v.dtype] ?? Float32Array;
    const data = new A(n);
    for (let i = 0; i < n; i++) data[i] = A === BigInt64Array ? BigInt(i % 7) : A === Float32Array ? Math.sin(i * 0.37) : i % 7;
    feeds[name] = new tessera.Tensor(v.dtype, data, dims);
  }
  return feeds;
}

let session;

async function showBackends() {
  const found = await tessera.backendsInPage();
  $('backends').innerHTML = row(['backend', 'here?', 'what']) + found.map((b) => row([b.id, b.available ? (b.software ? 'yes (software)' : 'yes') : 'no', `${b.description}: ${b.detail}`], ['', b.available ? 'real' : 'no'])).join('');
  return found;
}

function showRun(s, outputs) {
  $('bindings').innerHTML = s.bindings.map((b) => row([b.processor, b.backend, b.emulated ? 'emulated' : 'real', b.note], ['', '', b.emulated ? 'emulated' : 'real'])).join('');
  const t = s.lastTrace;
  const predicted = s.plan.estimate.latencyUs;
  $('timing').innerHTML = row(['predicted', predicted !== undefined ? `${(predicted / 1000).toFixed(2)} ms` : '—']) + row(['measured (this run)', `${(t.totalUs / 1000).toFixed(2)} ms`]) + row(['steps', t.steps.length]);
  $('outputs').innerHTML = Object.entries(outputs).map(([k, v]) => row([k, `${v.type} [${v.dims.join('×')}]`, Array.from(v.data.slice(0, 4), (x) => (typeof x === 'number' ? x.toPrecision(4) : String(x))).join(', ')])).join('');
}

async function showViewer(s) {
  const html = await s.viewerHtml();
  const old = $('viewer').src;
  $('viewer').src = URL.createObjectURL(new Blob([html], { type: 'text/html' }));
  if (old.startsWith('blob:')) URL.revokeObjectURL(old);
}

/** Creates a session (a URL or a File), runs it once and shows everything. */
async function load(model, options = {}) {
  if (session) await session.release();
  session = undefined;
  status(`loading ${model.name ?? model}…`);
  session = await tessera.InferenceSession.create(model, { ...options, onProgress: (a, b) => status(`loading: ${(100 * a / b).toFixed(0)}%`) });
  $('run').disabled = false;
  return session;
}

/** Runs twice: the first run of a session compiles its kernels (onnxruntime-web, WebGPU shaders); the second is the one shown. */
async function runOnce(feeds) {
  status('running…');
  const input = feeds ?? sampleFeeds(session);
  await session.run(input);
  const outputs = await session.run(input);
  showRun(session, outputs);
  await showViewer(session);
  status(`ran ${session.source.name} (${session.source.how}) in ${(session.lastTrace.totalUs / 1000).toFixed(1)} ms (the second run)`);
  return outputs;
}

const report = (e) => {
  status(`error: ${e.message}`);
  console.warn(e); // shown, not a console error: a bad model dropped in is the user's to fix
};

$('model').onchange = () => {
  const url = $('model').value;
  const feeds = corpusFeeds(url);
  const shapes = feeds && Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
  if (url) load(url, feeds ? { sampleFeeds: feeds, inputShapes: shapes } : {}).then(() => runOnce(feeds)).catch(report);
};
$('file').onchange = () => $('file').files[0] && load($('file').files[0]).then(() => runOnce()).catch(report);
$('run').onclick = () => runOnce().catch(report);
$('calibrate').onclick = async () => {
  status('calibrating…');
  try {
    const c = await tessera.calibrate({ progress: (d, t, what) => status(`calibrating ${d}/${t}: ${what}`) });
    status(`calibrated (${c.measurements.length} measurements), kept for this device`);
  } catch (e) {
    report(e);
  }
};
const drop = $('drop');
drop.ondragover = (e) => (e.preventDefault(), drop.classList.add('over'));
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer.files[0];
  if (f) load(f).then(() => runOnce()).catch(report);
};

/** What the tests (tests/browser) and the benchmark (bench/browser.ts) drive. */
window.example = {
  tessera,
  backends: showBackends,
  /** Loads a model, runs it on the given feeds ({ name: { type, dims, b64 } }), returns outputs the same way. */
  async run(url, feeds, options = {}) {
    const tensors = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, tensorOf(v)]));
    // the feeds are representative data: the probe run for shapes takes them (silero's rate input picks its branch)
    await load(url, { ...options, sampleFeeds: tensors });
    const outputs = await runOnce(tensors);
    const out = {};
    for (const [k, v] of Object.entries(outputs)) out[k] = { type: v.type, dims: [...v.dims], b64: toB64(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength)) };
    const viewer = await session.viewerHtml();
    return {
      outputs: out,
      bindings: session.bindings.map((b) => ({ ...b })),
      fallbacks: session.fallbacks.map((f) => ({ ...f })),
      processors: session.plan.partitions.map((p) => p.processor),
      threads: tessera.ortWebThreads(),
      crossOriginIsolated: globalThis.crossOriginIsolated,
      source: session.source,
      traceSteps: session.lastTrace.steps.length,
      viewer: { bytes: viewer.length, hasTrace: viewer.includes('"trace":{'), title: document.title },
    };
  },
};

try {
  const list = await (await fetch('/models/')).json();
  for (const m of list) $('model').append(new Option(`${m.name} (${(m.bytes / 1e6).toFixed(1)} MB)`, m.url));
  await showBackends();
  status('ready');
} catch (e) {
  report(e);
}
window.exampleReady = true;
