/// <reference lib="dom" />
/**
 * Calibrated browser targets kept in IndexedDB (database `tessera`, store `calibration`), one per
 * device: the user agent, the logical cores, onnxruntime-web's threads in this page and the WebGPU
 * adapter. A page calibrates once (`calibrate()` in src/browser/index.ts); every later session on the
 * same device places by the figures measured then.
 */
import type { WebGpuProbe } from '../backends/webgpu.js';
import { probeWebGpu } from '../backends/webgpu.js';
import { ortWebThreads } from '../backends/engine-files.browser.js';
import type { Target } from '../targets/schema.js';

const DB = 'tessera', STORE = 'calibration';

/** What calibration measured on a device, as stored. */
export interface StoredCalibration {
  device: string;
  date: string;
  target: Target;
  measurements: unknown[];
}

/** This device, as calibrations are keyed: the same browser, cores, threads and GPU adapter. */
export function deviceKey(gpu: WebGpuProbe): string {
  const nav = globalThis.navigator;
  return [nav?.userAgent ?? 'unknown browser', `${nav?.hardwareConcurrency ?? 1} cores`, `${ortWebThreads()} wasm threads`, gpu.available ? `WebGPU ${gpu.adapter}` : 'no WebGPU'].join(' | ');
}

function open(): Promise<IDBDatabase | undefined> {
  if (typeof indexedDB === 'undefined') return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: 'device' });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => resolve(undefined); // private mode, storage blocked: calibration is not kept
  });
}

function request<T>(db: IDBDatabase, mode: IDBTransactionMode, use: (s: IDBObjectStore) => IDBRequest): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const req = use(db.transaction(STORE, mode).objectStore(STORE));
    req.onsuccess = () => resolve(req.result as T | undefined);
    req.onerror = () => reject(req.error);
  });
}

/** The calibration stored for this device, if any. */
export async function storedCalibration(): Promise<StoredCalibration | undefined> {
  const device = deviceKey(await probeWebGpu());
  const db = await open();
  if (!db) return undefined;
  try {
    return await request<StoredCalibration>(db, 'readonly', (s) => s.get(device));
  } finally {
    db.close();
  }
}

/** Keeps a calibration for this device (replacing the one before). */
export async function storeCalibration(target: Target, measurements: unknown[]): Promise<StoredCalibration> {
  const entry: StoredCalibration = { device: deviceKey(await probeWebGpu()), date: new Date().toISOString(), target, measurements };
  const db = await open();
  if (db) {
    try {
      await request(db, 'readwrite', (s) => s.put(entry));
    } finally {
      db.close();
    }
  }
  return entry;
}

/** Forgets this device's calibration. */
export async function clearCalibration(): Promise<void> {
  const device = deviceKey(await probeWebGpu());
  const db = await open();
  if (!db) return;
  try {
    await request(db, 'readwrite', (s) => s.delete(device));
  } finally {
    db.close();
  }
}
