/** scripts.ts in the browser bundle: the viewer's page and layout worker, bundled when the browser bundle was built (scripts/build.mjs defines them). */
declare const TESSERA_VIEWER_PAGE: string;
declare const TESSERA_VIEWER_WORKER: string;

export function viewerScripts(): Promise<{ page: string; worker: string }> {
  return Promise.resolve({ page: TESSERA_VIEWER_PAGE, worker: TESSERA_VIEWER_WORKER });
}
