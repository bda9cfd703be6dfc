import { existsSync } from "node:fs";

/**
 * Where Debian's libjemalloc2 puts the library (amd64, arm64): the Dockerfile
 * installs it, and a machine that has it uses it for `npm start`, the bench,
 * chaos and fuzz runs.
 */
const JEMALLOC_PATHS = ["/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2"];

/**
 * jemalloc's background thread returns freed pages to the system over its
 * default decay (10 s) off the request path. Measured (docs/reliability.md,
 * "Memory after the fuzz run"): under glibc malloc a service's RSS stays
 * 15–30% above its baseline after one burst of large bodies (pages glibc keeps
 * in its `[heap]`, with V8's heap back where it was); on jemalloc it comes
 * back within a few percent. Immediate decay (`dirty_decay_ms:0`) does that
 * too but costs 30–40% more CPU per Sync (every free gives pages back).
 */
export const JEMALLOC_CONF = "background_thread:true";

/**
 * Environment for a service process so that it runs on jemalloc: `LD_PRELOAD`
 * must be set before the process starts, so whoever spawns a service adds
 * this. Empty when the library is not installed, when the caller already
 * preloads it, or when `SEEME_ALLOCATOR=glibc` asks for the default allocator.
 */
export function allocatorEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.SEEME_ALLOCATOR === "glibc" || env.LD_PRELOAD?.includes("jemalloc")) return {};
  const library = JEMALLOC_PATHS.find((path) => existsSync(path));
  if (!library) return {};
  return {
    LD_PRELOAD: env.LD_PRELOAD ? `${env.LD_PRELOAD}:${library}` : library,
    MALLOC_CONF: env.MALLOC_CONF ?? JEMALLOC_CONF,
  };
}

/** "jemalloc" when this process runs on it (preloaded), else "glibc": printed in run reports. */
export function allocatorName(env: NodeJS.ProcessEnv = process.env): "jemalloc" | "glibc" {
  return env.LD_PRELOAD?.includes("jemalloc") ? "jemalloc" : "glibc";
}
