import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Integration tests bind real ports and spawn processes; two cores do not gain from more forks.
    pool: 'forks',
    maxWorkers: 2,
  },
});
