import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The default output, then every skipped test with its reason (a skip must be seen, not only counted).
    reporters: ['default', './test/helpers/skip-reporter.ts'],
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Privileged tests share the host's kernel: run files one at a time, generous timeouts (QEMU TCG, PVM).
          fileParallelism: false,
          testTimeout: 240_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
