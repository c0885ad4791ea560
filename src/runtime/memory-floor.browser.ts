/** In the page there is no child process to measure: the floor is unknown (the browser variant of memory-floor.ts). */
export function measureMemoryFloor(): number | undefined {
  return undefined;
}
