/** `node:worker_threads` in the browser bundle: the page's own MessageChannel (ort.ts transfers dead buffers through one). */
export const MessageChannel = globalThis.MessageChannel;
