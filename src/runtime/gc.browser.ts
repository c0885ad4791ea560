/** In the page the browser collects garbage itself: nothing to force (the browser variant of gc.ts). */
export function collectGarbage(_settle = false): void {}

/** The page's engine sizes its own heap (the browser variant of gc.ts). */
export function keepYoungGenerationSmall(): void {}
