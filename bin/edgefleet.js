#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run automatically by `npm ci`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`edgefleet: ${error instanceof Error ? error.message : String(error)}\n`);
    // Usage errors exit 2 (like most CLIs), everything else 1.
    process.exitCode = error?.code === 'invalid_argument' ? 2 : 1;
  },
);
