import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// The build lands in ../static/app, which the Go binary embeds (static/static.go).
// emptyOutDir stays off so that static/app/.keep, the file that lets the embed
// compile without a build, survives; the build script removes stale assets itself.
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: "../static/app",
    emptyOutDir: false,
    target: "es2022",
    // An inlined asset would need data: in the CSP; there are none worth it.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: {
      "/api": { target: "http://localhost:8080", ws: true },
    },
  },
});
