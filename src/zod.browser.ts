/** zod in the page: bundled in, imported statically (the browser variant of zod.ts). */
import { z } from 'zod';

export function zod(): typeof z {
  return z;
}
