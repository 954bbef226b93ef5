import { defineConfig } from "vitest/config";

// make bench-web: the web app's figures, measured in real headless Chromium
// against a real server (scripts/test-web.sh with WEB_SUITE=bench).
export default defineConfig({
  test: {
    include: ["bench/**/*.test.ts"],
    environment: "node",
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
