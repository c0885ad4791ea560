/** In the page there is no file to read nor page cache to evict: storage is not measured (the browser variant of storage-read.ts). */
export async function measureStorageRead(_options?: unknown): Promise<undefined> {
  return undefined;
}
