/**
 * `node:fs` in the browser bundle: there is no file system. A browser session is created from a URL,
 * an ArrayBuffer or a File (src/browser/index.ts), so nothing reachable reads a path; should something
 * try (a plan or target given as a path, external data given by directory), it fails saying so.
 */
import { TesseraError } from '../../errors.js';

const none = (what: string) => (path?: unknown): never => {
  throw new TesseraError('FILE_UNREADABLE', `${what}(${typeof path === 'string' ? path : ''}): there is no file system in the browser; give the model as a URL, an ArrayBuffer or a File, and a plan or target as an object`);
};

export const existsSync = (): boolean => false;
export const readFileSync = none('readFileSync');
export const readdirSync = none('readdirSync');
export const realpathSync = none('realpathSync');
export const statSync = none('statSync');
export const fstatSync = none('fstatSync');
export const openSync = none('openSync');
export const readSync = none('readSync');
export const closeSync = none('closeSync');
export const writeFileSync = none('writeFileSync');
export const writeSync = none('writeSync');
export const fsyncSync = none('fsyncSync');
export const mkdirSync = none('mkdirSync');
export const renameSync = none('renameSync');
export const rmSync = none('rmSync');
export const constants = { O_RDONLY: 0, O_NOFOLLOW: 0 };
