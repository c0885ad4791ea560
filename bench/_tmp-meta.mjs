import * as ort from 'onnxruntime-node';
for (const m of process.argv.slice(2)) { const s = await ort.InferenceSession.create(m); console.log(m.split('/').pop(), JSON.stringify(s.inputMetadata), JSON.stringify(s.outputMetadata)); }
