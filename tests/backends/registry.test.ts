/**
 * Backends registered as data: a toy backend (Relu on float32, in plain JavaScript) is added with one
 * `registerBackend` call and nothing else; bound to a processor, the compiler places exactly the nodes it
 * takes there, the runtime runs them on it, and the outputs match onnxruntime on the original model.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, Executable, Subgraph } from '../../src/backends/backend.js';
import { capabilityTable } from '../../src/backends/capability.js';
import { registerBackend } from '../../src/backends/registry.js';
import { Tensor, type TensorMap } from '../../src/backends/tensor.js';
import { compile } from '../../src/compiler/index.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { importOnnx } from '../../src/ir/onnx-import.js';
import { Session } from '../../src/runtime/session.js';
import { parseTarget } from '../../src/targets/index.js';
import { lcgValues, runOrt } from '../helpers/models.js';

/** Runs a partition of Relus (on float32) node by node; anything else is a compile error. */
class ToyBackend implements Backend {
  readonly id = 'toy:relu';
  compiled = 0;
  ran = 0;
  available = async () => true;
  supports = capabilityTable('toy', { Relu: { opsets: [6, 99], dtypes: ['float32'] } }).supports;
  async compile(part: Subgraph): Promise<Executable> {
    const g = importOnnx(part.onnx);
    for (const n of g.nodes) if (n.op !== 'Relu') throw new Error(`toy: no kernel for ${n.op}`);
    this.compiled++;
    return {
      inputs: part.inputs,
      outputs: part.outputs,
      run: async (feeds: TensorMap, into?: TensorMap) => {
        this.ran++;
        const env = new Map<string, Float32Array>(Object.entries(feeds).map(([k, t]) => [k, t.data as Float32Array]));
        const dims = new Map(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
        for (const n of g.nodes) {
          const x = env.get(n.inputs[0])!;
          env.set(n.outputs[0], x.map((v) => Math.max(0, v)));
          dims.set(n.outputs[0], dims.get(n.inputs[0])!);
        }
        const out: TensorMap = {};
        for (const o of part.outputs) {
          const y = env.get(o)!;
          const t = into?.[o];
          if (t) (t.data as Float32Array).set(y);
          out[o] = t ?? new Tensor('float32', y, dims.get(o)!);
        }
        return out;
      },
      dispose: async () => undefined,
    };
  }
}

const toy = new ToyBackend();
registerBackend({
  id: toy.id, bindName: 'toy', kind: 'npu', description: 'a toy backend (Relu on float32, plain JavaScript)',
  probe: async () => ({ available: true, detail: 'this process' }),
  create: async () => toy,
  capabilities: { supports: toy.supports },
});

const fig = (value: number) => ({ value, source: 'test figure' });
/** A CPU and an accelerator whose own table takes every op (its bound backend decides what it gets). */
const target = parseTarget({
  format: 'tessera.target', version: 1, name: 'cpu-and-accelerator', description: 'test',
  processors: [
    { id: 'cpu', kind: 'cpu', name: 'cpu', backend: 'ort:cpu', peakGflops: { float32: fig(100) }, bandwidthGBs: fig(10), launchOverheadUs: fig(10), support: { ops: '*', dtypes: ['float32', 'float64', 'int64'], controlFlow: true, dynamicShapes: true, rejectAttributes: [] } },
    { id: 'acc', kind: 'npu', name: 'accelerator', backend: 'npu', peakGflops: { float32: fig(1000), float64: fig(1000) }, bandwidthGBs: fig(100), launchOverheadUs: fig(1), support: { ops: '*', dtypes: ['float32', 'float64', 'int64'], controlFlow: false, dynamicShapes: true, rejectAttributes: [] } },
  ],
  links: [{ from: 'cpu', to: 'acc', bandwidthGBs: fig(50), latencyUs: fig(1) }],
}, 'test target');

/** Relus on float32 (the toy's), a Relu on float64 (not the toy's), and convolutions and adds around them. */
function model(): Uint8Array {
  const b = new GraphBuilder('toy-net');
  const x = b.input('x', 'float32', [1, 4, 8, 8]);
  const w = b.initializer('w', lcgValues(4 * 4 * 9, 3), [4, 4, 3, 3]);
  const c = b.node('Conv', [x, w], 'c', { pads: [1, 1, 1, 1] }, { name: 'conv' });
  const r1 = b.node('Relu', [c], 'r1', {}, { name: 'relu1' });
  const r2 = b.node('Relu', [b.node('Add', [r1, x], 'a', {}, { name: 'add' })], 'r2', {}, { name: 'relu2' });
  const d = b.node('Cast', [r2], 'd', { to: 11 }, { name: 'to-double' });
  const r3 = b.node('Relu', [b.node('Neg', [d], 'n', {}, { name: 'neg' })], 'r3', {}, { name: 'relu-double' });
  b.output(b.node('Cast', [r3], 'y', { to: 1 }, { name: 'to-float' }), 'float32');
  return b.toBytes();
}

describe('a backend registered in one call', () => {
  it('bound to a processor, gets exactly the nodes its table takes (Relu on float32), with the reason for the others', async () => {
    const c = await compile(model(), target, { bind: { acc: 'toy' }, placement: 'capability', lower: false });
    const on = (p: string) => c.plan.nodes.filter((n) => n.processor === p && !n.folded).map((n) => n.name).sort();
    expect(on('acc')).toEqual(['relu1', 'relu2']);
    expect(on('cpu')).toEqual(['add', 'conv', 'neg', 'relu-double', 'to-double', 'to-float']);
    expect(c.target.processors.find((p) => p.id === 'acc')!.backend).toBe('toy:relu');
    expect(c.plan.partitions.filter((p) => p.processor === 'acc').every((p) => p.backend === 'toy:relu')).toBe(true);
    const refused = c.context.refusedByBinding.get('acc')!;
    expect(refused.get(c.plan.nodes.find((n) => n.name === 'conv')!.index)).toBe('toy: Conv: no toy mapping');
    expect(refused.get(c.plan.nodes.find((n) => n.name === 'relu-double')!.index)).toMatch(/^toy: Relu: value '.*' is float64 \(takes float32\)$/);
  });

  it('by cost too, nothing it does not take goes to it', async () => {
    const c = await compile(model(), target, { bind: { acc: 'toy' }, lower: false });
    for (const n of c.plan.nodes) if (n.processor === 'acc' && !n.folded) expect(n.name).toMatch(/^relu[12]$/);
  });

  it('runs there: the Session binds it, compiles its partitions on it without falling back, and matches onnxruntime', async () => {
    const bytes = model();
    const session = await Session.create(bytes, { target, bind: { acc: 'toy' }, placement: 'capability' });
    try {
      expect(session.bindings.find((b) => b.processor === 'acc')).toMatchObject({ backend: 'toy:relu', emulated: false });
      expect(session.fallbacks).toEqual([]);
      const x = new Tensor('float32', lcgValues(4 * 8 * 8, 5), [1, 4, 8, 8]);
      const before = toy.ran;
      const got = (await session.run({ x })).y;
      expect(toy.ran).toBeGreaterThan(before);
      expect(session.lastTrace!.steps.filter((s) => s.kind === 'compute' && s.backend === 'toy:relu').length).toBe(session.plan.partitions.filter((p) => p.processor === 'acc').length);
      const want = (await runOrt(bytes, { x })).y;
      const g = got.data as Float32Array, w = want.data as Float32Array;
      expect(g.length).toBe(w.length);
      for (let i = 0; i < w.length; i++) expect(Math.abs(g[i] - w[i])).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(w[i]));
    } finally {
      await session.release();
    }
  });

  it('refuses a second backend with the same id or bind name', () => {
    expect(() => registerBackend({ id: 'toy:relu', bindName: 'toy2', kind: 'cpu', description: 'x', probe: async () => ({ available: true, detail: '' }), create: async () => toy })).toThrow(/registered already/);
  });
});
