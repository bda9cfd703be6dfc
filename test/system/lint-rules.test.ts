import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The architecture rules in biome.json: packages never import a service, and a
 * service never imports another one (they talk over gRPC). Checked by linting a
 * probe file written (and removed) at the given place.
 */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function lint(path: string, source: string): { status: number | null; output: string } {
  const probe = join(dirname(path), `lint-probe-${process.pid}.ts`);
  writeFileSync(join(ROOT, probe), source);
  try {
    const result = spawnSync("node_modules/.bin/biome", ["lint", "--vcs-use-ignore-file=false", probe], {
      cwd: ROOT,
      encoding: "utf8",
    });
    return { status: result.status, output: result.stdout + result.stderr };
  } finally {
    rmSync(join(ROOT, probe), { force: true });
  }
}

describe("import boundaries (biome)", () => {
  it.each([
    ["packages/client/src/probe.ts", "@seeme/identity/config", "packages/* must not import a service"],
    ["packages/runtime/src/probe.ts", "@seeme/gateway/service", "packages/* must not import a service"],
    ["services/location/src/probe.ts", "@seeme/connection/config", "A service must not import another service"],
    ["services/gateway/src/probe.ts", "@seeme/identity/service", "A service must not import another service"],
  ])("%s may not import %s", (path, module, message) => {
    const { status, output } = lint(path, `import { x } from "${module}";\nexport const y = x;\n`);
    expect(status).not.toBe(0);
    expect(output).toContain("lint/style/noRestrictedImports");
    expect(output).toContain(message);
  });

  it.each([
    ["services/location/src/probe.ts", "@seeme/runtime/config"],
    ["services/gateway/src/probe.ts", "@seeme/gateway/config"],
    ["packages/client/src/probe.ts", "@seeme/contracts/identity"],
  ])("%s may import %s", (path, module) => {
    const { status, output } = lint(path, `import { x } from "${module}";\nexport const y = x;\n`);
    expect(output).not.toContain("noRestrictedImports");
    expect(status).toBe(0);
  });

  it("rejects an explicit any", () => {
    const { status, output } = lint("packages/client/src/probe.ts", "export const f = (x: any): unknown => x;\n");
    expect(status).not.toBe(0);
    expect(output).toContain("lint/suspicious/noExplicitAny");
  });
});
