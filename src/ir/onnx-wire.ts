/**
 * ONNX's protobuf wire format as the scans that read a model without decoding it see it: the limits'
 * structure scan (limits.ts) and the signature a session reads before deciding whether the model needs
 * importing at all (model-signature.ts). Field numbers are onnx.proto's (tests/ir/model-signature.test.ts
 * checks each against onnx-buf's descriptors).
 */

/** onnx.proto's field numbers, per message, of the fields these scans read or enter. */
export const FIELD = {
  model: { irVersion: 1, graph: 7, functions: 25 },
  graph: { node: 1, initializer: 5, sparseInitializer: 15, input: 11, output: 12, valueInfo: 13 },
  function: { node: 7 },
  node: { output: 2, attribute: 5 },
  attribute: { t: 5, g: 6, tensors: 10, graphs: 11, sparseTensor: 22, sparseTensors: 23 },
  sparseTensor: { values: 1, indices: 2 },
  tensor: { dims: 1, dataType: 2, name: 8, dataLocation: 14 },
  valueInfo: { name: 1, type: 2 },
  type: { tensorType: 1 },
  typeTensor: { elemType: 1, shape: 2 },
  shape: { dim: 1 },
  dim: { value: 1, param: 2 },
} as const;

/** Wire types: a varint, 8 bytes, a length-delimited value, 4 bytes. */
export const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;
