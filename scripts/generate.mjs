/**
 * `npm run generate`: protobuf code (buf) and one Prisma client per service schema.
 * `node scripts/generate.mjs --if-changed` (what `npm run build`, hence `npm start`
 * and `npm test`, runs) skips each generator whose inputs hash to the stamp left by
 * its last run in .tmp/generate/ and whose output is still there.
 *
 * Prisma convention (Prisma 7, no prisma.config.ts needed for generate):
 *   prisma/<service>/schema.prisma starts with
 *     generator client {
 *       provider     = "prisma-client"
 *       output       = "../../services/<service>/src/db/generated"
 *       moduleFormat = "esm"
 *     }
 *     datasource db {
 *       provider = "postgresql"
 *     }
 *   (no `url`: Prisma 7 rejects it; connections come from <SERVICE>_DATABASE_URL at run
 *   time through @seeme/runtime/db), and prisma/<service>/migrations/ holds the SQL made by
 *   `node scripts/dist/migrate.js create <service> <name>`.
 * Test fixtures follow the same shape under packages/<pkg>/test/fixtures/prisma/.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const ifChanged = process.argv.includes("--if-changed");
const stampDir = join(root, ".tmp", "generate");

function run(command, args, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env, stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited with ${code}`)),
    );
  });
}

function subdirs(dir) {
  return existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(dir, e.name))
    : [];
}

function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  if (!statSync(dir).isDirectory()) return [dir];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** Content hash of the inputs (paths and bytes) plus the generator versions. */
function hashOf(inputs) {
  const hash = createHash("sha256");
  for (const file of inputs.flatMap(filesUnder))
    hash.update(relative(root, file)).update("\0").update(readFileSync(file)).update("\0");
  return hash.digest("hex");
}

function versionOf(pkg) {
  return JSON.parse(readFileSync(join(root, "node_modules", pkg, "package.json"), "utf8")).version;
}

/** Runs `generate` unless (with --if-changed) the stamp matches and the output exists. */
async function step(name, inputs, output, generate) {
  const stamp = join(stampDir, `${name.replaceAll("/", "_")}.sha256`);
  const hash = hashOf(inputs);
  if (ifChanged && existsSync(output) && existsSync(stamp) && readFileSync(stamp, "utf8") === hash) return;
  await generate();
  mkdirSync(stampDir, { recursive: true });
  writeFileSync(stamp, hash);
}

const schemas = [
  ...subdirs(join(root, "prisma")).map((dir) => join(dir, "schema.prisma")),
  ...subdirs(join(root, "packages")).map((dir) => join(dir, "test/fixtures/prisma/schema.prisma")),
].filter((file) => existsSync(file));

const prismaEnv = {
  ...process.env,
  // generate never runs the schema engine, but the CLI insists on finding its native
  // binary and would try to download it from Prisma's host, unreachable here.
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  // No telemetry or update checks: the build must work offline.
  CHECKPOINT_DISABLE: "1",
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
};

/** The generator's `output` folder, resolved against the schema's folder. */
function prismaOutput(schema) {
  const match = /^\s*output\s*=\s*"([^"]+)"/m.exec(readFileSync(schema, "utf8"));
  return match ? resolve(dirname(schema), match[1]) : join(root, "node_modules", ".prisma");
}

const versions = join(stampDir, "..", "generate-versions.txt");
mkdirSync(stampDir, { recursive: true });
// Generator versions are part of every stamp: an upgrade regenerates.
writeFileSync(
  versions,
  `buf ${versionOf("@bufbuild/buf")} protoc-gen-es ${versionOf("@bufbuild/protoc-gen-es")} prisma ${versionOf("prisma")}\n`,
);

await step(
  "proto",
  [join(root, "proto"), join(root, "buf.gen.yaml"), join(root, "buf.yaml"), versions],
  join(root, "packages/contracts/src/gen"),
  () => run("npx", ["buf", "generate"]),
);
// Each generate is a separate CLI process; running them together halves the wall time.
await Promise.all(
  schemas.map((schema) =>
    step(`prisma-${relative(root, schema)}`, [schema, versions], prismaOutput(schema), () =>
      run("npx", ["prisma", "generate", "--schema", relative(root, schema)], prismaEnv),
    ),
  ),
);
