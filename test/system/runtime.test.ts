/**
 * The project runs on Node 24 LTS even where the system Node is older: the
 * `node` dev dependency puts its binary first on the PATH of npm scripts, so
 * `npm test` (and `npm start`) run on it. package.json pins the same major.
 */
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
  allowScripts: Record<string, boolean>;
};

describe("Node runtime", () => {
  it("is Node 24 under npm test", () => {
    expect(Number(process.versions.node.split(".")[0])).toBe(24);
  });

  it("comes from the node dev dependency, whose install script is allowed", () => {
    expect(pkg.devDependencies.node).toMatch(/^24\.\d+\.\d+$/);
    expect(pkg.allowScripts.node).toBe(true);
    expect(pkg.engines.node).toBe(">=24");
  });
});
