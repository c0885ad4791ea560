/**
 * Calibration data: one ONNX test-data directory (input_0.pb, …, as `tessera run --data` reads), or a
 * directory of them (read in name order; each may hold inputs of other shapes: text lines of many widths).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tensorFromWeight, type TensorMap } from '../backends/tensor.js';
import { TesseraError } from '../errors.js';
import { formatShape, type Graph } from '../ir/graph.js';
import { listTensorFiles, readTensorFile } from '../ir/tensor-file.js';

export interface Sample {
  dir: string;
  feeds: TensorMap;
}

const hasInputs = (dir: string) => listTensorFiles(dir, 'input').length > 0;

/** The test-data directories under `dir` (itself when it holds input files). */
export function sampleDirs(dir: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new TesseraError('BAD_CALIBRATION', `calibration directory not found: ${dir}`);
  if (hasInputs(dir)) return [dir];
  const subs = readdirSync(dir).sort().map((d) => join(dir, d)).filter((d) => statSync(d).isDirectory());
  const dirs = subs.filter(hasInputs);
  if (dirs.length === 0) {
    throw new TesseraError('BAD_CALIBRATION', `calibration directory ${dir} is empty: it holds no input_0.pb, and no directory in it does (give ONNX test-data directories: input_0.pb, input_1.pb, … in the order of the model's inputs)`);
  }
  return dirs;
}

/** Reads one directory's inputs, checked against the graph's inputs (count, dtype, fixed dims). */
export function readSample(graph: Graph, dir: string): Sample {
  const files = listTensorFiles(dir, 'input');
  const where = `calibration data ${dir}`;
  if (files.length !== graph.inputs.length) {
    throw new TesseraError('BAD_CALIBRATION', `${where} holds ${files.length} input file(s), but ${graph.meta.source} has ${graph.inputs.length} input(s): ${graph.inputs.map((n) => `'${n}'`).join(', ')}`);
  }
  const feeds: TensorMap = {};
  graph.inputs.forEach((name, i) => {
    let t;
    try {
      t = readTensorFile(files[i]);
    } catch (err) {
      throw new TesseraError('BAD_CALIBRATION', `${where}: ${(err as Error).message}`, { cause: err });
    }
    const v = graph.values.get(name)!;
    const want = v.declaredShape ?? v.shape;
    if (v.dtype && t.dtype !== v.dtype) throw new TesseraError('BAD_CALIBRATION', `${files[i]} holds ${t.dtype}, but input '${name}' of ${graph.meta.source} takes ${v.dtype}`);
    if (want && (want.length !== t.dims.length || want.some((d, k) => typeof d === 'number' && d !== t.dims[k]))) {
      throw new TesseraError('BAD_CALIBRATION', `${files[i]} holds a tensor of shape ${formatShape([...t.dims])}, but input '${name}' of ${graph.meta.source} has shape ${formatShape(want)}`);
    }
    feeds[name] = tensorFromWeight(t);
  });
  return { dir, feeds };
}

/** Every sample under `dir`, at most `limit` of them (evenly spread when there are more). */
export function readSamples(graph: Graph, dir: string, limit = Infinity): Sample[] {
  let dirs = sampleDirs(dir);
  if (dirs.length > limit) dirs = Array.from({ length: limit }, (_, i) => dirs[Math.floor((i * dirs.length) / limit)]);
  return dirs.map((d) => readSample(graph, d));
}
