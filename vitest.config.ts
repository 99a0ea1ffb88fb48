import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Engine tests start real llama.cpp processes; on 2 cores, running test files one at a time keeps timings honest.
    fileParallelism: false,
    reporters: ['default'],
  },
});
