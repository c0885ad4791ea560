/// <reference lib="dom" />
/** `node:os` in the browser bundle: what a page knows of its machine (its logical cores), nothing else. */
export const cpus = (): { model: string }[] => [];
export const homedir = (): string => '/';
export const availableParallelism = (): number => globalThis.navigator?.hardwareConcurrency ?? 1;
