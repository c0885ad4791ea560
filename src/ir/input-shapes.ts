/**
 * `--input-shape` specs parsed (NAME=DxDxD, repeatable or comma-separated). Its own small module: the
 * CLI's entry imports it at start, before any command needs the op registry or protobuf.
 */
import { TesseraError } from '../errors.js';

/** Parses `x=1x3x640x640,y=1x10` (or several such strings) into input shapes. */
export function parseInputShapes(specs: string | string[] | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const spec of ([] as string[]).concat(specs ?? [])) {
    for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      const eq = part.lastIndexOf('=');
      if (eq <= 0) throw new TesseraError('BAD_INPUT_SHAPE', `--input-shape '${part}': expected NAME=DxDxD, e.g. x=1x3x224x224`);
      const name = part.slice(0, eq);
      const dimsText = part.slice(eq + 1);
      const dims = dimsText === '' || dimsText === 'scalar' ? [] : dimsText.split(/[x×]/).map(Number);
      if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) {
        throw new TesseraError('BAD_INPUT_SHAPE', `--input-shape '${part}': dimensions must be non-negative integers`);
      }
      out[name] = dims;
    }
  }
  return out;
}
