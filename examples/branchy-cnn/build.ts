/** Writes examples/branchy-cnn/model.onnx (generated; not in git): `npx tsx examples/branchy-cnn/build.ts [out.onnx]`. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildBranchyCnn } from './model.js';

const out = process.argv[2] ?? fileURLToPath(new URL('./model.onnx', import.meta.url));
const bytes = buildBranchyCnn();
writeFileSync(out, bytes);
console.log(`wrote ${out} (${bytes.length} bytes)`);
