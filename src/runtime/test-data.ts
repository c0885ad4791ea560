/** Test data as ONNX's node tests lay it out: input_0.pb, input_1.pb, … (TensorProtos) in a directory. */
import { tensorFromWeight, type TensorMap } from '../backends/tensor.js';
import { TesseraError } from '../errors.js';
import { formatShape, type Graph } from '../ir/graph.js';
import { listTensorFiles, readTensorFile } from '../ir/tensor-file.js';

/** Reads input_<i>.pb in the order of the graph's non-initializer inputs. */
export function readFeeds(graph: Graph, dir: string): TensorMap {
  const files = listTensorFiles(dir, 'input');
  if (files.length !== graph.inputs.length) {
    throw new TesseraError('BAD_TEST_DATA', `${dir} holds ${files.length} input_*.pb file(s), but the model has ${graph.inputs.length} input(s): ${graph.inputs.map((n) => `'${n}'`).join(', ')}`);
  }
  const feeds: TensorMap = {};
  graph.inputs.forEach((name, i) => {
    const t = readTensorFile(files[i]);
    checkTestTensor(graph, name, t.dtype, t.dims, files[i]);
    try {
      feeds[name] = tensorFromWeight(t);
    } catch (err) {
      if (err instanceof TesseraError) throw new TesseraError(err.code, `${files[i]}: ${err.message}`, { cause: err });
      throw err;
    }
  });
  return feeds;
}

/** A test-data file must hold the dtype the input takes, and a shape that agrees with its declared dims. */
function checkTestTensor(graph: Graph, name: string, dtype: string, dims: readonly number[], file: string): void {
  const v = graph.values.get(name)!;
  const model = graph.meta.source;
  if (v.dtype && dtype !== v.dtype) {
    throw new TesseraError('FEED_DTYPE', `${file} holds a tensor of type ${dtype}, but input '${name}' of ${model} takes ${v.dtype}`);
  }
  const want = v.declaredShape ?? v.shape;
  if (want && (want.length !== dims.length || want.some((d, i) => typeof d === 'number' && d !== dims[i]))) {
    throw new TesseraError('FEED_SHAPE', `${file} holds a tensor of shape ${formatShape([...dims])}, but input '${name}' of ${model} has shape ${formatShape(want)}`);
  }
}
