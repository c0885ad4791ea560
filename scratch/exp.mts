import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ensureDecoder, PRESETS } from '../bench/models/decoder.js';
const w = ensureDecoder(PRESETS.tiny, '/tmp/t16/tiny');
const bytes = readFileSync(w.modelPath);
const s = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, extra: { session: { model_external_initializers_file_folder_path: '/tmp/t16/tiny' } } } as any);
console.log('ok from bytes', s.inputNames.length);
