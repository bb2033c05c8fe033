import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies the API to a `plantwire serve` on 127.0.0.1:1880
// (start it with `--allow-origin http://127.0.0.1:5173`).
const api = "http://127.0.0.1:1880";
const proxied = ["/flows", "/flow", "/inject", "/nodes", "/credentials", "/settings", "/revisions", "/auth"];

export default defineConfig({
  plugins: [react()],
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: {
    host: "127.0.0.1",
    proxy: {
      ...Object.fromEntries(proxied.map((p) => [p, api])),
      "/comms": { target: api, ws: true },
    },
  },
});
