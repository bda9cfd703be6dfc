/**
 * `npm run build` (and the first step of `npm start` and `npm test`): only what changed.
 *   1. generated code: `scripts/generate.mjs --if-changed` (buf / prisma skipped when
 *      their inputs hash to the last run's stamp);
 *   2. `tsc -b tsconfig.build.json`: every compiled workspace's dist/, incremental;
 *   3. `npm run build` in each workspace that has its own build script (for example a
 *      web app built by Vite, which the TypeScript build does not include).
 * Plain JavaScript with no dependencies, so it runs before anything is compiled.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${[command, ...args].join(" ")} exited with ${code}`))));
  });
}

function workspacesWithBuildScript() {
  const { workspaces = [] } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  return workspaces
    .flatMap((pattern) => {
      const parent = join(root, pattern.replace(/\/\*$/, ""));
      return existsSync(parent) ? readdirSync(parent).map((name) => join(parent, name, "package.json")) : [];
    })
    .filter((file) => existsSync(file) && JSON.parse(readFileSync(file, "utf8")).scripts?.build)
    .map((file) => relative(root, dirname(file)));
}

try {
  await run(process.execPath, [join(root, "scripts/generate.mjs"), "--if-changed"]);
  await run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json"]);
  for (const workspace of workspacesWithBuildScript()) await run("npm", ["run", "build", "--workspace", workspace]);
} catch (error) {
  process.stderr.write(`build failed: ${error.message}\n`);
  process.exit(1);
}
