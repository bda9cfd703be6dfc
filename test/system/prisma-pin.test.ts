import { readFileSync } from "node:fs";

/**
 * Migrations run Prisma's schema engine compiled to WebAssembly (docs/migrations.md).
 * It must come from the same engine release line as the `prisma` CLI that generates
 * the clients, and both must be pinned exactly, so an upgrade of one fails here until
 * the other follows.
 */
const root = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
// Read from node_modules directly: not every package exports its package.json.
const installed = (name: string) =>
  (
    JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), "utf8")) as {
      version: string;
    }
  ).version;
const releaseLine = (version: string) => /^(\d+\.\d+\.\d+)-/.exec(version)?.[1];

describe("Prisma's WebAssembly schema engine", () => {
  it("is pinned exactly, like prisma and its client", () => {
    const pins = { ...root.dependencies, ...root.devDependencies };
    for (const name of ["prisma", "@prisma/client", "@prisma/schema-engine-wasm"])
      expect(pins[name]).toMatch(/^\d+\.\d+\.\d+(-[\w.-]+)?$/);
    expect(installed("@prisma/schema-engine-wasm")).toBe(pins["@prisma/schema-engine-wasm"]);
    expect(installed("prisma")).toBe(pins.prisma);
  });

  it("comes from the engine release line the installed prisma uses", () => {
    const engines = installed("@prisma/engines-version");
    const wasm = installed("@prisma/schema-engine-wasm");
    expect(releaseLine(engines)).toBeDefined();
    expect(releaseLine(wasm)).toBe(releaseLine(engines));
  });
});
