import { importOnnxFile } from './src/ir/onnx-import.js';
import { inferShapes } from './src/ir/infer.js';
const [f, shape] = process.argv.slice(2);
const g = importOnnxFile(f);
try { await inferShapes(g, { inputShapes: shape ? JSON.parse(shape) : undefined }); console.log('ok'); } catch (e) { console.log(e.message); }
