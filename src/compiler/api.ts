/**
 * The package's `tessera/compiler` export: the compiler's API, synchronous parts included — the ONNX
 * importer, the graph builder, shape inference, the compiler driver and plan files. Importing it loads
 * the protobuf decoder and the compiler (about 150 modules), which is why the main entry, `tessera`
 * (src/index.ts: sessions, tensors, targets), does not re-export it.
 *
 *   import { compile, GraphBuilder } from 'tessera/compiler';
 *   import { Session } from 'tessera';
 *   const session = await Session.of(await compile('model.onnx', 'snapdragon-8-gen-3'));
 */
export { compile, compilePlan, loadModel, type Compilation, type CompileOptions, type LoadedModel, type LoadOptions } from './index.js';
export { importOnnx, importOnnxFile, type ImportOptions } from '../ir/onnx-import.js';
export type { Graph } from '../ir/graph.js';
export { DEFAULT_LIMITS, type Limits } from '../ir/limits.js';
export { inferShapes, type ShapedGraph } from '../ir/infer.js';
export { GraphBuilder } from '../ir/builder.js';
export { parsePlan, serializePlan, type Plan } from '../plan/schema.js';
export { verifyPlan } from '../plan/verify.js';
export type { Target } from '../targets/schema.js';
