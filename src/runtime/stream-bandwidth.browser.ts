/** In the page a large enough working set cannot be handed to the engine without copying it: not measured (the browser variant of stream-bandwidth.ts). */
export async function measureStreamBandwidth(): Promise<undefined> {
  return undefined;
}
