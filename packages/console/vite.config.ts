import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig } from "vite";

// The server serves dist/ at "/" (packages/server/src/http/app.ts); the console talks to the
// same origin, so there is no proxy or base path to configure. The "source" condition bundles
// @tether/sdk and @tether/protocol from their TypeScript sources (no stale dist/).
export default defineConfig({
  plugins: [react()],
  base: "/",
  resolve: { conditions: ["source", ...defaultClientConditions] },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
});
