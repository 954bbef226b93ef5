import { defineConfig } from "vitest/config";

// Browser tests: real headless Chromium against a real server
// (scripts/test-web.sh starts it and sets PARLEY_WEB_URL). One file at a
// time, since the machine is small and each file drives several pages.
export default defineConfig({
  test: {
    include: ["e2e/**/*.test.ts"],
    environment: "node",
    testTimeout: 240_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
