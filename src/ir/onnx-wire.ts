/**
 * Reading ONNX's protobuf wire format directly: tags, lengths and varints, without a decoder or its
 * descriptors. What reads a model without decoding it uses this: the limits' structure scan (limits.ts)
 * and the signature a session reads before deciding whether the model needs importing at all
 * (model-signature.ts). Field numbers are onnx.proto's (tests/ir/onnx-wire.test.ts checks each against
 * onnx-buf's descriptors).
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

/**
 * One field of a message: its number and wire type; a varint's value (as a float: an int64 beyond 2^53
 * is approximate, one at or beyond 2^63 negative), or where a length-delimited value lies.
 */
export interface WireField {
  field: number;
  wire: number;
  value: number;
  start: number;
  end: number;
}

const textDecoder = new TextDecoder();

export class WireReader {
  constructor(readonly bytes: Uint8Array) {}

  /**
   * Calls `each` for every field of the message at [start, end), in order. False at anything malformed
   * (a varint or a length running past the end, a group or an unknown wire type), after the fields
   * before it.
   */
  fields(start: number, end: number, each: (f: WireField) => void): boolean {
    const b = this.bytes;
    let p = start;
    const varint = (): number => {
      let v = 0, mul = 1;
      for (let i = 0; i < 10 && p < end; i++) {
        const x = b[p++];
        v += (x & 0x7f) * mul;
        mul *= 128;
        if (x < 0x80) return v;
      }
      return -1;
    };
    const f: WireField = { field: 0, wire: 0, value: 0, start: 0, end: 0 };
    while (p < end) {
      const tag = varint();
      if (tag < 0) return false;
      f.field = Math.floor(tag / 8);
      f.wire = tag % 8;
      if (f.wire === WIRE.varint) {
        const v = varint();
        if (v < 0) return false;
        f.value = v >= 2 ** 63 ? v - 2 ** 64 : v;
        f.start = f.end = p;
      } else if (f.wire === WIRE.bytes) {
        const len = varint();
        if (len < 0 || p + len > end) return false;
        f.start = p;
        f.end = p += len;
      } else if (f.wire === WIRE.fixed64 || f.wire === WIRE.fixed32) {
        p += f.wire === WIRE.fixed64 ? 8 : 4;
        if (p > end) return false;
        f.start = f.end = p;
      } else return false;
      each(f);
    }
    return p === end;
  }

  /** The varints packed in a length-delimited value (a packed repeated int64), or null when malformed. */
  packed(start: number, end: number): number[] | null {
    const out: number[] = [];
    const b = this.bytes;
    let p = start;
    while (p < end) {
      let v = 0, mul = 1, done = false;
      for (let i = 0; i < 10 && p < end; i++) {
        const x = b[p++];
        v += (x & 0x7f) * mul;
        mul *= 128;
        if (x < 0x80) {
          done = true;
          break;
        }
      }
      if (!done) return null;
      out.push(v >= 2 ** 63 ? v - 2 ** 64 : v);
    }
    return out;
  }

  text(start: number, end: number): string {
    return textDecoder.decode(this.bytes.subarray(start, end));
  }
}
