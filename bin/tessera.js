#!/usr/bin/env node
// The `tessera` command: the built CLI in dist/ (`npm run build`; npm ci and npm pack build it).
// In the repository, `npm run tessera -- …` runs the TypeScript source instead, through tsx.
import '../dist/cli/main.js';
