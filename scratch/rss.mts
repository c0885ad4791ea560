import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
const dir = '/work/t16/.tessera-cache/models/decoder-100m';
const rss = () => (process.memoryUsage().rss / 1e6).toFixed(0);
const opts: any = { logSeverityLevel: 3, extra: { session: { model_external_initializers_file_folder_path: dir, ...(process.argv[3] ? { disable_prepacking: '1' } : {}) } } };
const bytes = readFileSync(dir + '/model.onnx');
const n = Number(process.argv[2]);
for (let i = 0; i < n; i++) { await ort.InferenceSession.create(bytes, opts); console.log('sessions', i + 1, 'rss MB', rss()); }
