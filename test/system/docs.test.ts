import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** Documentation a contributor follows points at files they have: inside this repository. */
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

describe("docs/conventions.md", () => {
  const file = join(ROOT, "docs/conventions.md");
  const text = readFileSync(file, "utf8");

  it("names no path outside the repository", () => {
    expect(text.match(/(^|[\s(`])\/(work|home|tmp|usr|etc|root)\/\S*/gm) ?? []).toEqual([]);
  });

  it("links only to files that exist inside the repository", () => {
    const targets = [...text.matchAll(/\]\(([^)#\s]+)[^)]*\)/g)].map((match) => match[1]);
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) {
      expect(target).not.toMatch(/^[a-z]+:/);
      const resolved = join(dirname(file), target);
      expect(relative(ROOT, resolved).startsWith("..")).toBe(false);
      expect(existsSync(resolved)).toBe(true);
    }
  });
});
