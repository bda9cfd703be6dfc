import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const ROOT = fileURLToPath(new URL(".", import.meta.url));

/**
 * Writes the service worker (src/sw.js, kept a separate plain module so other
 * handlers, e.g. `push`, can be added to it) with the list of files of this
 * build to precache: the app shell works offline from the first visit.
 */
function serviceWorker(): Plugin {
  return {
    name: "seeme-service-worker",
    apply: "build",
    enforce: "post",
    writeBundle(options, bundle) {
      const files = Object.keys(bundle).filter(
        (name) => /\.(js|css|html|webmanifest|png|svg)$/.test(name) && name !== "sw.js",
      );
      const source = readFileSync(join(ROOT, "src/sw.js"), "utf8");
      const precache = JSON.stringify([
        "/",
        ...files.filter((name) => name !== "index.html").map((name) => `/${name}`),
      ]);
      // The version changes with the file list (hashed names), so a new build replaces the old cache.
      const version = files
        .filter((name) => name.startsWith("assets/"))
        .sort()
        .join(",");
      const output = source
        .replace("self.__PRECACHE__", precache)
        .replace("self.__VERSION__", JSON.stringify(String(hash(version))));
      writeFileSync(join(options.dir ?? join(ROOT, "dist"), "sw.js"), output);
    },
  };
}

function hash(text: string): number {
  let value = 0;
  for (let i = 0; i < text.length; i++) value = (Math.imul(value, 31) + text.charCodeAt(i)) | 0;
  return value >>> 0;
}

export default defineConfig({
  root: ROOT,
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // Below this, Vite would inline images as data: URLs, which the CSP does not allow.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  plugins: [serviceWorker()],
});
