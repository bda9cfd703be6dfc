/**
 * `npm run generate`: protobuf code (buf) and one Prisma client per service schema.
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
 *   `tsx scripts/migrate.ts create <service> <name>`.
 * Test fixtures follow the same shape under packages/<pkg>/test/fixtures/prisma/.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

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
  return existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name)) : [];
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

await run("npx", ["buf", "generate"]);
// Each generate is a separate CLI process; running them together halves the wall time.
await Promise.all(
  schemas.map((schema) => run("npx", ["prisma", "generate", "--schema", relative(root, schema)], prismaEnv)),
);
