#!/usr/bin/env node
// Runs the compiled CLI (dist/, made by `npm run build`; `npm start` and `npm test` build too).
import { existsSync } from "node:fs";
import module from "node:module";

// Node >= 22.1 keeps compiled bytecode between runs (in the OS temp dir): a quicker start.
module.enableCompileCache?.();
const main = new URL("../dist/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("see-me: the CLI is not built yet: run `npm run build` in the repository first\n");
  process.exit(1);
}
await import(main.href);
