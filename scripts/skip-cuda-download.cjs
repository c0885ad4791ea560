#!/usr/bin/env node
/**
 * Tessera's preinstall: keeps onnxruntime-node's install script from downloading CUDA libraries from
 * NuGet, so `npm install tessera` needs nothing but the npm registry.
 *
 * Why this way. onnxruntime-node 1.30.0's postinstall (its script/install.js) fetches the CUDA and
 * TensorRT provider libraries (hundreds of MB) from api.nuget.org on linux/x64, and fails the whole
 * install where NuGet cannot be reached. Tessera never uses those providers (it runs onnxruntime's CPU
 * and WebGPU EPs, which ship inside the npm package). The script can be told to skip only by the
 * installing user (ONNXRUNTIME_NODE_INSTALL=skip, or `onnxruntime-node-install=skip` in the app's
 * .npmrc); npm gives a dependency no say over its own dependencies' scripts (`allowScripts` and
 * `overrides` are read from the app's package.json only, and a package's .npmrc is neither packed nor
 * read). The script also skips when the files it would download are present already — and npm runs
 * every package's preinstall before any package's postinstall. So this writes those files, as small
 * text placeholders that say what they are, before onnxruntime-node's postinstall looks for them.
 *
 * It does nothing when: not linux/x64 (nothing is downloaded elsewhere); tessera is not installed as a
 * dependency (the repository's own `npm ci` has .npmrc); the installing user chose already (either
 * setting above: `ONNXRUNTIME_NODE_INSTALL=cuda12` still downloads the real libraries, over these
 * placeholders); an NVIDIA driver is present (an app on that machine may use onnxruntime-node's CUDA EP
 * itself, so the download happens as it would without Tessera); or the files exist.
 * It never fails the install: on any error it says so and leaves onnxruntime-node to do as it does.
 */
'use strict';
const { existsSync, writeFileSync } = require('node:fs');
const { dirname, join, sep } = require('node:path');

/** The files onnxruntime-node 1.30.0's script/install-metadata.js lists for linux/x64 (manifest 'cuda12'). */
const CUDA_FILES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'];

const PLACEHOLDER = `Not a library: a placeholder written by tessera's install (scripts/skip-cuda-download.cjs) so that
onnxruntime-node's install script does not download CUDA libraries from NuGet (Tessera does not use the
CUDA execution provider). To get the real libraries, run: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node
`;

function main() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return;
  if (!__dirname.split(sep).includes('node_modules')) return;
  if (process.env.ONNXRUNTIME_NODE_INSTALL || process.env.npm_config_onnxruntime_node_install) return;
  if (existsSync('/proc/driver/nvidia/version')) return;
  let ortDir;
  try {
    ortDir = dirname(require.resolve('onnxruntime-node/package.json', { paths: [__dirname] }));
  } catch {
    return; // not unpacked where tessera resolves it: nothing to do
  }
  const binDir = join(ortDir, 'bin', 'napi-v6', 'linux', 'x64');
  if (!existsSync(binDir)) return;
  for (const f of CUDA_FILES) if (!existsSync(join(binDir, f))) writeFileSync(join(binDir, f), PLACEHOLDER);
}

try {
  main();
} catch (err) {
  console.warn(`tessera: could not keep onnxruntime-node from downloading CUDA libraries (${err && err.message}); its install script may try NuGet`);
}
