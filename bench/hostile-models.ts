/**
 * Hostile but well-formed inputs, shared by tests/security and the fuzzing benchmark (bench/fuzz.ts):
 * models whose external data points outside their directory, tensor bombs, deeply nested subgraphs,
 * models of very many nodes, and names that carry HTML, script or paths. A sandbox holds a model
 * directory and, outside it, a "secret" file of known content that no model may get read.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProto_DataLocation, TensorShapeProto_DimensionSchema, type ModelProto, type TensorProto } from 'onnx-buf';
import { GraphBuilder, tensor } from '../src/ir/builder.js';

/** The secret's content: recognizable text, 96 bytes (w takes its first 16 or more). */
export const SECRET = 'root:x:0:0:root:/root:/bin/bash\ntessera-secret: this must never reach an output!!\n0123456789ab\n';

export interface Sandbox {
  root: string;
  /** Where the hostile models are written. */
  modelDir: string;
  /** A file outside modelDir with SECRET in it. */
  secret: string;
  cleanup(): void;
}

/** A fresh temp dir: `model/` for the models and `secret.txt` beside it. */
export function makeSandbox(prefix: string): Sandbox {
  const root = mkdtempSync(join(tmpdir(), `tessera-${prefix}-`));
  const modelDir = join(root, 'model');
  mkdirSync(modelDir);
  const secret = join(root, 'secret.txt');
  writeFileSync(secret, SECRET);
  return { root, modelDir, secret, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

const OLD = new Date('2001-01-01T00:00:00Z');

/**
 * Marks a file as unread: its access time set back to 2001 (and its modification time left later), so
 * the kernel's relatime updates it on the next read. `wasRead` tells whether it was read since.
 */
export function markUnread(path: string): void {
  utimesSync(path, OLD, new Date());
}
export function wasRead(path: string): boolean {
  return statSync(path).atimeMs !== OLD.getTime();
}

const kv = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });

/** Moves a tensor's data out to `location` (the file is not written here). */
export function externalize(t: TensorProto, location: string, offset = '0', length = String(t.rawData.length)): void {
  t.externalData = [kv('location', location), kv('offset', offset), kv('length', length)];
  t.dataLocation = TensorProto_DataLocation.EXTERNAL;
  t.rawData = new Uint8Array(0);
}

/** y = x + w, x and w float32 [n]: with x = 0, y's bytes are w's. */
export function addModel(n = 4): ModelProto {
  const b = new GraphBuilder('add');
  b.input('x', 'float32', [n]);
  b.initializer('w', new Float32Array(n).map((_, i) => i + 1), [n]);
  b.node('Add', ['x', 'w'], 'y');
  return fromBinary(ModelProtoSchema, b.output('y', 'float32', [n]).toBytes());
}

/** y = x + w with w's data in an external file at `location`. */
export function externalAddModel(location: string, options: { n?: number; offset?: string; length?: string } = {}): Uint8Array {
  const m = addModel(options.n ?? 4);
  externalize(m.graph!.initializer[0], location, options.offset, options.length);
  return toBinary(ModelProtoSchema, m);
}

/**
 * y = If(c) then (x + w) else x, with w an initializer of the then-branch whose data is at `location`:
 * external data that only a subgraph holds (inference and export read it after import).
 */
export function externalSubgraphModel(location: string, n = 4): Uint8Array {
  const then = new GraphBuilder('then');
  then.initializer('w', new Float32Array(n), [n]);
  then.node('Add', ['x', 'w'], 't');
  const thenProto = fromBinary(ModelProtoSchema, then.output('t', 'float32', [n]).toBytes()).graph!;
  externalize(thenProto.initializer[0], location);
  const other = new GraphBuilder('else');
  other.node('Identity', ['x'], 'e');
  const elseProto = fromBinary(ModelProtoSchema, other.output('e', 'float32', [n]).toBytes()).graph!;
  const b = new GraphBuilder('if');
  b.input('x', 'float32', [n]);
  b.initializer('c', new Uint8Array([1]), [], 'bool');
  b.node('If', ['c'], 'y', { then_branch: { type: 'graph', value: thenProto }, else_branch: { type: 'graph', value: elseProto } });
  return b.output('y', 'float32', [n]).toBytes();
}

export type Escape = 'absolute' | 'escaping' | 'symlink';
export const ESCAPES: readonly Escape[] = ['absolute', 'escaping', 'symlink'];

/**
 * Writes `<kind>.onnx` into the sandbox's model dir: y = x + w with w's external data aimed at the
 * secret by an absolute path, by `../secret.txt`, or by `w.bin`, a symbolic link to it.
 */
export function writeEscape(sb: Sandbox, kind: Escape): string {
  let location = sb.secret;
  if (kind === 'escaping') location = '../secret.txt';
  if (kind === 'symlink') {
    location = 'w-link.bin';
    try {
      symlinkSync(sb.secret, join(sb.modelDir, location));
    } catch {
      // made by an earlier call
    }
  }
  const path = join(sb.modelDir, `${kind}.onnx`);
  writeFileSync(path, externalAddModel(location));
  return path;
}

export type Bomb = 'constant-of-shape' | 'expand' | 'tile' | 'range' | 'initializer' | 'input' | 'value-info';
export const BOMBS: readonly Bomb[] = ['constant-of-shape', 'expand', 'tile', 'range', 'initializer', 'input', 'value-info'];

/** A small file that declares or computes a tensor of about `elements` (default 2^45: 128 TiB of float32). */
export function bombModel(kind: Bomb, elements = 2 ** 45): Uint8Array {
  const side = Math.round(Math.cbrt(elements));
  const b = new GraphBuilder(`bomb-${kind}`);
  b.input('x', 'float32', [1]);
  const i64 = (name: string, values: number[]) => b.initializer(name, BigInt64Array.from(values.map(BigInt)), [values.length]);
  switch (kind) {
    case 'constant-of-shape':
      b.node('ConstantOfShape', [i64('shape', [side, side, side])], 'c', { value: { type: 'tensor', value: tensor('v', new Float32Array([1]), [1]) } });
      b.node('Add', ['c', 'x'], 'y');
      break;
    case 'expand':
      b.node('Expand', ['x', i64('shape', [side, side, side])], 'y');
      break;
    case 'tile': {
      b.node('Reshape', ['x', i64('r', [1, 1, 1])], 'x3');
      b.node('Tile', ['x3', i64('reps', [side, side, side])], 'y');
      break;
    }
    case 'range': {
      b.initializer('start', new Float32Array([0]), []);
      b.initializer('limit', new Float32Array([elements]), []);
      b.initializer('delta', new Float32Array([1]), []);
      b.node('Range', ['start', 'limit', 'delta'], 'r');
      b.node('Add', ['r', 'x'], 'y');
      break;
    }
    case 'initializer': {
      // dims of 2^45 elements and no data at all: the file is a few dozen bytes
      const m = addModel(1);
      const w = m.graph!.initializer[0];
      w.dims = [BigInt(side), BigInt(side), BigInt(side)];
      w.rawData = new Uint8Array(0);
      return toBinary(ModelProtoSchema, m);
    }
    case 'input':
      return inputBomb(side);
    case 'value-info': {
      const m = addModel(1);
      const out = m.graph!.output[0].type!.value;
      if (out.case === 'tensorType') out.value.shape!.dim = [side, side, side].map((d) => create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: BigInt(d) } }));
      return toBinary(ModelProtoSchema, m);
    }
  }
  return b.output('y', 'float32').toBytes();
}

function inputBomb(side: number): Uint8Array {
  const b = new GraphBuilder('bomb-input');
  b.input('x', 'float32', [side, side, side]);
  b.node('Relu', ['x'], 'y');
  return b.output('y', 'float32').toBytes();
}

// ---- the protobuf wire format, written directly (for files of any depth or size) ----------------

const enc = new TextEncoder();
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}
const lenField = (field: number, len: number) => [...varint(field * 8 + 2), ...varint(len)];
const strField = (field: number, s: string) => [...lenField(field, enc.encode(s).length), ...enc.encode(s)];

/** ModelProto { ir_version 8, opset_import { version 17 }, graph: <graph bytes follow> } header, for a graph of `len` bytes. */
function modelHeader(graphLen: number): number[] {
  const opset = [...varint(2 * 8), ...varint(17)];
  // (fields in any order are valid protobuf; the graph comes last so it can be written in one pass)
  return [...varint(1 * 8), 8, ...lenField(8, opset.length), ...opset, ...lenField(7, graphLen)];
}

/** ValueInfoProto { name, type: a float32 (or bool: 9) tensor, of these dims when given }. */
const valueInfo = (field: number, name: string, elem = 1, dims?: number[]) => {
  const dimBytes = (dims ?? []).flatMap((d) => [...lenField(1, 1 + varint(d).length), ...varint(1 * 8), ...varint(d)]);
  const tensorType = [...varint(1 * 8), elem, ...(dims ? [...lenField(2, dimBytes.length), ...dimBytes] : [])];
  const type = [...lenField(1, tensorType.length), ...tensorType];
  const body = [...strField(1, name), ...lenField(2, type.length), ...type];
  return [...lenField(field, body.length), ...body];
};
/** A graph `y = Identity(x)`, named `name`. */
function identityGraph(name: string, out: string): number[] {
  const node = [...strField(1, 'x'), ...strField(2, out), ...strField(4, 'Identity')];
  return [...strField(2, name), ...lenField(1, node.length), ...node, ...valueInfo(12, out)];
}

/**
 * Subgraphs nested `depth` deep: each graph holds one If node (or Loop) whose then_branch (body) is the
 * next graph; the If models are valid (y = x whatever the condition: every else_branch and the
 * innermost graph are Identity), so a depth within the limits loads and runs. Written as bytes in one
 * pass, so any depth is cheap to make.
 */
export function nestedModel(depth: number, op: 'If' | 'Loop' = 'If'): Uint8Array {
  const attrName = op === 'If' ? 'then_branch' : 'body';
  // per level k: Graph { node(1): Node { input c, output y<k>, op_type, attribute(5): Attribute { name, type(20)=GRAPH, g(6): Graph<k+1> }, attribute(5): else }, output(12) y<k> }
  const attrHead = [...strField(1, attrName), ...varint(20 * 8), 5];
  const elseAttr = (k: number) => {
    const g = identityGraph(`else${k}`, `e${k}`);
    const a = [...strField(1, 'else_branch'), ...varint(20 * 8), 5, ...lenField(6, g.length), ...g];
    return op === 'If' ? [...lenField(5, a.length), ...a] : [];
  };
  const nodeHead = (k: number) => [...strField(1, 'c'), ...strField(2, `y${k}`), ...strField(4, op), ...elseAttr(k)];
  const graphTail = (k: number) => [...strField(2, `g${k}`), ...valueInfo(12, `y${k}`), ...(k === 0 ? [...valueInfo(11, 'c', 9, []), ...valueInfo(11, 'x', 1, [1])] : [])];
  const leaf = identityGraph('leaf', `y${depth}`);
  const graphLen: number[] = new Array(depth + 1);
  const attrLen: number[] = new Array(depth);
  const nodeLen: number[] = new Array(depth);
  const heads = Array.from({ length: depth }, (_, k) => Uint8Array.from(nodeHead(k)));
  const tails = Array.from({ length: depth }, (_, k) => Uint8Array.from(graphTail(k)));
  graphLen[depth] = leaf.length;
  for (let k = depth - 1; k >= 0; k--) {
    attrLen[k] = attrHead.length + lenField(6, graphLen[k + 1]).length + graphLen[k + 1];
    nodeLen[k] = heads[k].length + lenField(5, attrLen[k]).length + attrLen[k];
    graphLen[k] = lenField(1, nodeLen[k]).length + nodeLen[k] + tails[k].length;
  }
  const head = modelHeader(graphLen[0]);
  const out = new Uint8Array(head.length + graphLen[0]);
  out.set(head);
  let p = head.length;
  const put = (bytes: ArrayLike<number>) => {
    out.set(bytes, p);
    p += bytes.length;
  };
  for (let k = 0; k < depth; k++) {
    put(lenField(1, nodeLen[k]));
    put(heads[k]);
    put(lenField(5, attrLen[k]));
    put(attrHead);
    put(lenField(6, graphLen[k + 1]));
  }
  put(leaf);
  for (let k = depth - 1; k >= 0; k--) put(tails[k]);
  return out;
}

/** A graph of `count` empty nodes (2 bytes each). */
export function manyNodesModel(count: number): Uint8Array {
  const head = modelHeader(2 * count);
  const out = new Uint8Array(head.length + 2 * count);
  out.set(head);
  for (let i = 0; i < count; i++) out[head.length + 2 * i] = 1 * 8 + 2; // node, length 0
  return out;
}

/** Names meant to break out of HTML, a script, an attribute, a path or an object's prototype. */
export const HOSTILE_NAMES: readonly string[] = [
  `<img src=x onerror="document.title='pwned';window.__pwned=1">`,
  `</script><script>window.__pwned=1</script>`,
  `"><svg onload="window.__pwned=1">`,
  `'><iframe src="javascript:window.__pwned=1"></iframe>`,
  `<style>body{display:none}</style>`,
  `]]></title><!-- <script>window.__pwned=1</script>`,
  `\u2028\u2029"\\u003c/script>`,
  `../../../../etc/passwd`,
  `/etc/passwd`,
  `C:\\Windows\\System32\\config\\SAM`,
  `__proto__`,
  `constructor`,
  `toString`,
  `hasOwnProperty`,
];

/**
 * x → Relu → Sigmoid → Add(w) → Mul(w) → y with every node and value named by `name(i)` (i from 0):
 * the graph input, node names, intermediate values, the weight and the output.
 */
export function namedModel(name: (i: number) => string): Uint8Array {
  const b = new GraphBuilder('named');
  const n = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(name);
  b.input(n[0], 'float32', [1, 4]);
  b.initializer(n[1], new Float32Array([0.5, -1, 2, 0.25]), [1, 4]);
  b.node('Relu', [n[0]], n[2], {}, { name: n[3] });
  b.node('Sigmoid', [n[2]], n[4], {}, { name: n[5] });
  b.node('Add', [n[4], n[1]], n[6], {}, { name: n[7] });
  b.node('Mul', [n[6], n[1]], n[8], {}, { name: n[9] });
  return b.output(n[8], 'float32', [1, 4]).toBytes();
}
