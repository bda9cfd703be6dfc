import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { allocatorEnv, allocatorName } from "@seeme/runtime/allocator";

const installed = ["/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2"].some(
  (path) => existsSync(path),
);

/** The shared libraries a child Node process started with `env` has mapped. */
function mappedLibraries(env: Record<string, string>): string {
  return execFileSync(
    process.execPath,
    ["-e", 'process.stdout.write(require("fs").readFileSync("/proc/self/maps", "utf8"))'],
    {
      env: { PATH: process.env.PATH, ...env },
      encoding: "utf8",
    },
  );
}

describe("allocatorEnv", () => {
  test("a child started with it runs on jemalloc with its background thread returning freed pages (when the library is installed)", () => {
    const env = allocatorEnv({});
    if (!installed) {
      expect(env).toEqual({});
      return;
    }
    expect(env.MALLOC_CONF).toBe("background_thread:true");
    expect(mappedLibraries(env)).toMatch(/libjemalloc\.so\.2/);
    expect(mappedLibraries({})).not.toMatch(/libjemalloc/);
    expect(allocatorName(env)).toBe("jemalloc");
  });

  test("SEEME_ALLOCATOR=glibc keeps glibc malloc, and a caller's own preload is neither repeated nor replaced", () => {
    expect(allocatorEnv({ SEEME_ALLOCATOR: "glibc" })).toEqual({});
    expect(allocatorEnv({ LD_PRELOAD: "/opt/libjemalloc.so.2" })).toEqual({});
    expect(allocatorName({})).toBe("glibc");
    if (installed) {
      const env = allocatorEnv({ LD_PRELOAD: "/opt/libtrace.so", MALLOC_CONF: "narenas:2" });
      expect(env.LD_PRELOAD).toMatch(/^\/opt\/libtrace\.so:\/usr\/lib\/.+\/libjemalloc\.so\.2$/);
      expect(env.MALLOC_CONF).toBe("narenas:2");
    }
  });
});
