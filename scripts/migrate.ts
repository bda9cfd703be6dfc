/**
 * Offline Prisma migrations (no native schema engine needed):
 *   npm run migrate -- create <service> <name>   write prisma/<service>/migrations/<ts>_<name>/
 *   npm run migrate -- deploy [<service>...]     apply pending migrations to <SERVICE>_DATABASE_URL
 * `create` replays the existing migrations into a scratch schema of SHADOW_DATABASE_URL
 * (default: the local test database) and drops it afterwards.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { createMigration, migrate } from "@seeme/runtime/db";

// Runs compiled, from scripts/dist/migrate.js (the image and `npm run migrate`).
const PRISMA_ROOT = fileURLToPath(new URL("../../prisma/", import.meta.url));
const log = pino({ name: "migrate" });

function paths(service: string): { schemaPath: string; migrationsDir: string } {
  const schemaPath = join(PRISMA_ROOT, service, "schema.prisma");
  if (!existsSync(schemaPath)) throw new Error(`no schema for service ${service}: ${schemaPath} does not exist`);
  return { schemaPath, migrationsDir: join(PRISMA_ROOT, service, "migrations") };
}

function allServices(): string[] {
  if (!existsSync(PRISMA_ROOT)) return [];
  return readdirSync(PRISMA_ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(PRISMA_ROOT, e.name, "schema.prisma")))
    .map((e) => e.name);
}

async function main(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  if (command === "create" && rest.length === 2) {
    const [service, name] = rest as [string, string];
    const url =
      process.env.SHADOW_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
    const dir = await createMigration({ ...paths(service), name, url });
    log.info({ service, dir }, dir === null ? "schema unchanged, no migration written" : "migration written");
    return;
  }
  if (command === "deploy") {
    for (const service of rest.length > 0 ? rest : allServices()) {
      const variable = `${service.toUpperCase()}_DATABASE_URL`;
      const url = process.env[variable];
      if (url === undefined || url === "") throw new Error(`${variable} is not set`);
      await migrate({ ...paths(service), url, log: log.child({ service }) });
    }
    return;
  }
  throw new Error("usage: node scripts/dist/migrate.js create <service> <name> | deploy [<service>...]");
}

main(process.argv.slice(2)).catch((err: unknown) => {
  log.error({ err }, "migration failed");
  process.exitCode = 1;
});
