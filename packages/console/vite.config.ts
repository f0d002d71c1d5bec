import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The server serves dist/ at "/" (packages/server/src/http/app.ts); the console talks to the
// same origin, so there is no proxy or base path to configure.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, target: "es2022" },
});
