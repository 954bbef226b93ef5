import { defineConfig } from "vitest/config";

// Unit tests of the client logic: plain TypeScript, no browser.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
