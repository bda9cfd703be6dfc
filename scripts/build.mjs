/**
 * `npm run build` (and the first step of `npm start` and `npm test`): only what changed.
 *   1. generated code: `scripts/generate.mjs --if-changed` (buf / prisma skipped when
 *      their inputs hash to the last run's stamp);
 *   2. `tsc -b tsconfig.build.json`: every compiled workspace's dist/, incremental;
 *   3. `npm run build` in each workspace that has its own build script (for example a
 *      web app built by Vite, which the TypeScript build does not include), skipped when
 *      none of its files changed since its last successful build and its dist/ exists.
 * Plain JavaScript with no dependencies, so it runs before anything is compiled.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${[command, ...args].join(" ")} exited with ${code}`)),
    );
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

/** Content hash of a workspace's own files (not dist/ or node_modules/). */
function hashOf(dir) {
  const hash = createHash("sha256");
  const walk = (current) => {
    for (const entry of readdirSync(current, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (["dist", "node_modules", ".tmp"].includes(entry.name)) continue;
      const path = join(current, entry.name);
      if (entry.isDirectory()) walk(path);
      else hash.update(relative(dir, path)).update("\0").update(readFileSync(path)).update("\0");
    }
  };
  walk(dir);
  return hash.digest("hex");
}

async function buildWorkspace(workspace) {
  const stamp = join(root, ".tmp", "build", `${workspace.replaceAll("/", "_")}.sha256`);
  const hash = hashOf(join(root, workspace));
  if (existsSync(join(root, workspace, "dist")) && existsSync(stamp) && readFileSync(stamp, "utf8") === hash) return;
  await run("npm", ["run", "build", "--workspace", workspace]);
  mkdirSync(dirname(stamp), { recursive: true });
  writeFileSync(stamp, hash);
}

try {
  await run(process.execPath, [join(root, "scripts/generate.mjs"), "--if-changed"]);
  await run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-b", "tsconfig.build.json"]);
  for (const workspace of workspacesWithBuildScript()) await buildWorkspace(workspace);
} catch (error) {
  process.stderr.write(`build failed: ${error.message}\n`);
  process.exit(1);
}
