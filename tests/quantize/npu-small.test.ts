/**
 * The HTP rules on small quantized graphs, each against what the rules say: a full QDQ group (Conv → Relu,
 * quantized int8 by `tessera quantize`) goes to the NPU whole at 'a8w8', `tessera compile` prints the
 * precision and the viewer shows it in the node's details; int8 activations, a partial group and a weight
 * quantized in blocks stay off the NPU, each with its reason.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile } from '../../src/compiler/index.js';
import { GraphBuilder } from '../../src/ir/builder.js';
import { predictNode } from '../../src/targets/cost.js';
import { floatTensorFile, tempDir, tessera } from '../cli/helpers.js';
import { chromiumMissing, launch, open } from '../viz/browser.js';

const { dir, cleanup } = tempDir('npu-small');
afterAll(cleanup);

const C = 4, M = 8, H = 8, W = 8;

function convRelu(): string {
  const b = new GraphBuilder('conv', { opset: 13 });
  b.input('x', 'float32', [1, C, H, W]);
  b.initializer('w', Float32Array.from({ length: M * C * 9 }, (_, i) => Math.sin(i * 0.7) * 0.2), [M, C, 3, 3]);
  b.initializer('b', Float32Array.from({ length: M }, (_, i) => 0.01 * i), [M]);
  b.node('Conv', ['x', 'w', 'b'], 'c', { pads: [1, 1, 1, 1], kernel_shape: [3, 3] });
  b.output(b.node('Relu', ['c'], 'y'), 'float32', [1, M, H, W]);
  const path = join(dir, 'conv.onnx');
  writeFileSync(path, b.toBytes());
  for (const s of [0, 1]) {
    mkdirSync(join(dir, 'cal', String(s)), { recursive: true });
    writeFileSync(join(dir, 'cal', String(s), 'input_0.pb'), floatTensorFile([1, C, H, W], Float32Array.from({ length: C * H * W }, (_, i) => Math.cos(i * 0.3 + s))));
  }
  return path;
}

/** A node whose output is quantized: QuantizeLinear → DequantizeLinear → `op` → QuantizeLinear → DequantizeLinear, with the given types. */
function qdqModel(name: string, edit: (b: GraphBuilder) => void): string {
  const b = new GraphBuilder(name, { opset: 21 });
  b.input('x', 'float32', [1, 64]);
  edit(b);
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, b.toBytes());
  return path;
}
const scalar = (b: GraphBuilder, name: string, dtype: 'float32' | 'uint8' | 'int8', v: number) =>
  b.initializer(name, dtype === 'float32' ? Float32Array.of(v) : dtype === 'uint8' ? Uint8Array.of(v) : Int8Array.of(v), [], dtype);

describe('a full QDQ group on snapdragon-8-gen-3', () => {
  it('goes to the NPU whole, and the compile output and the viewer say it computes a8w8', async () => {
    const model = convRelu();
    const q = join(dir, 'q.onnx');
    const r1 = tessera('quantize', model, '--scheme', 'int8', '--calibration', join(dir, 'cal'), '--out', q);
    expect(r1.status, r1.stderr).toBe(0);
    const plan = join(dir, 'plan.json');
    // a model this small runs faster on the CPU than the NPU's launch costs: placed by capability, as onnxruntime does
    const r2 = tessera('compile', q, '--target', 'snapdragon-8-gen-3', '--placement', 'capability', '--out', plan);
    expect(r2.status, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/precision \(run-time nodes.*\): npu a8 ×\d+, a8w8 ×1/);
    const c = await compile(q, 'snapdragon-8-gen-3', { lower: false, placement: 'capability' });
    const conv = c.plan.nodes.find((n) => n.op === 'Conv')!;
    expect(conv.processor).toBe('npu');
    expect(conv.precision).toBe('a8w8');
    for (const n of c.plan.nodes) if (!n.folded) expect(n.processor, n.name).toBe('npu');
    // priced at the NPU's int8 rate, a byte per element: below the float model's Conv in float16 there
    const npu = c.target.processors.find((p) => p.id === 'npu')!;
    const quantized = predictNode(npu, c.graph, conv.index);
    expect(quantized.basis).toMatch(/\(int8, a QDQ group\)/);
    const f = await compile(model, 'snapdragon-8-gen-3', { lower: false, placement: 'capability' });
    const floatConv = predictNode(npu, f.graph, f.graph.nodes.find((n) => n.op === 'Conv')!.index);
    expect(quantized.us).toBeLessThan(floatConv.us);

    if (chromiumMissing) return;
    const html = join(dir, 'plan.html');
    const r3 = tessera('viz', plan, '--model', q, '-o', html);
    expect(r3.status, r3.stderr).toBe(0);
    const browser = await launch();
    try {
      const { page, errors } = await open(browser, html);
      await page.waitForSelector('body[data-graph-state=ready]', { timeout: 60_000 });
      await page.locator(`#viewport .node[data-node="${conv.index}"]`).click();
      await page.waitForSelector('#details.open');
      expect(await page.locator('#details [data-field=precision]').textContent()).toBe('a8w8');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe('what the Hexagon NPU does not take in a quantized graph', () => {
  const reasonOn = async (path: string, op: string) => {
    const c = await compile(path, 'snapdragon-8-gen-3', { lower: false });
    const i = c.graph.nodes.find((n) => n.op === op)!.index;
    expect(c.plan.nodes[i].processor).not.toBe('npu');
    const r = c.context.support[i]!.get('npu')!;
    return r.ok ? '' : r.reason;
  };

  it('int8 activations (the HTP takes uint8/uint16)', async () => {
    const path = qdqModel('int8-act', (b) => {
      scalar(b, 's', 'float32', 0.05); scalar(b, 'z', 'int8', 0);
      b.node('QuantizeLinear', ['x', 's', 'z'], 'xq');
      b.output(b.node('DequantizeLinear', ['xq', 's', 'z'], 'y'), 'float32', [1, 64]);
    });
    expect(await reasonOn(path, 'QuantizeLinear')).toMatch(/QuantizeLinear to int8: the Hexagon NPU \(HTP v75\) takes uint8\/uint16 activations/);
  });

  it('a partial group: a quantized op whose output is read as float', async () => {
    const path = qdqModel('partial', (b) => {
      scalar(b, 's', 'float32', 0.05); scalar(b, 'z', 'uint8', 128);
      b.node('QuantizeLinear', ['x', 's', 'z'], 'xq');
      b.node('DequantizeLinear', ['xq', 's', 'z'], 'xd');
      b.output(b.node('Relu', ['xd'], 'y'), 'float32', [1, 64]);
    });
    expect(await reasonOn(path, 'Relu')).toMatch(/Relu is partly quantized \(its output 'y' is read as float, not quantized\); the Hexagon NPU \(HTP v75\) runs quantized ops only in full QDQ groups/);
  });

  it('a weight quantized in blocks (DequantizeLinear block_size)', async () => {
    const path = qdqModel('blocked', (b) => {
      b.initializer('wq', Int8Array.from({ length: 64 * 16 }, (_, i) => (i % 15) - 7), [64, 16], 'int8');
      b.initializer('ws', Float32Array.from({ length: 2 * 16 }, () => 0.01), [2, 16]);
      b.node('DequantizeLinear', ['wq', 'ws'], 'w', { axis: 0, block_size: 32 });
      b.output(b.node('MatMul', ['x', 'w'], 'y'), 'float32', [1, 16]);
    });
    expect(await reasonOn(path, 'MatMul')).toMatch(/its int8 weight is quantized in blocks of 32 \(DequantizeLinear block_size\): the Hexagon NPU \(HTP v75\) takes per-channel weights only/);
  });
});
