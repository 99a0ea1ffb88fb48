#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run automatically by `npm ci`).
import { main } from '../dist/cli/main.js';

// Once the command has returned, nothing may keep the process alive: a handle left open by a failure
// (a listening socket, a timer) ends with the process 3 s later instead of leaving an orphan.
const exitSoon = () => setTimeout(() => process.exit(), 3000).unref();

// Output piped into a reader that stops early (`| head`): nothing more to say, not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
    exitSoon();
  },
  (error) => {
    process.stderr.write(`edgefleet: ${error instanceof Error ? error.message : String(error)}\n`);
    // Usage errors exit 2 (like most CLIs), everything else 1.
    process.exitCode = error?.code === 'invalid_argument' ? 2 : 1;
    exitSoon();
  },
);
