import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Runs the real `see-me` executable in a child process, as a person types it. The
 * bin script is the one npm links as `see-me`; when the build moves it to compiled
 * JavaScript only this path changes.
 */
export const SEE_ME_BIN = fileURLToPath(new URL("../../packages/cli/bin/see-me.js", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment of every run: no inherited gateway, no colour codes. */
function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.SEEME_GATEWAY;
  // Jest runs with --experimental-vm-modules; a person's see-me does not.
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

/** A running `see-me` whose output can be awaited line by line (for `watch`). */
export interface CliProcess {
  child: ChildProcess;
  /** Everything printed so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves once stdout matches `pattern` (searching from `from`), with the index after the match. */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<number>;
  exited: Promise<CliResult>;
}

export function startSeeMe(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; nodeArgs?: string[] } = {},
): CliProcess {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), SEE_ME_BIN, ...args], {
    cwd: options.cwd,
    env: environment(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
    for (const listener of listeners) listener();
  });
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const exited = new Promise<CliResult>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return {
    child,
    output: () => ({ stdout, stderr }),
    exited,
    waitFor(pattern, timeoutMs = 15_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout.slice(from));
          if (!match) return false;
          done();
          resolve(from + match.index + match[0].length);
          return true;
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `timed out waiting for ${pattern}; stdout: ${JSON.stringify(stdout)}; stderr: ${JSON.stringify(stderr)}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(listener);
        };
        const listener = () => void check();
        if (!check()) {
          listeners.add(listener);
          void exited.then(
            () =>
              listeners.has(listener) &&
              !check() &&
              (done(),
              reject(
                new Error(
                  `see-me exited before ${pattern}; stdout: ${JSON.stringify(stdout)}; stderr: ${JSON.stringify(stderr)}`,
                ),
              )),
          );
        }
      });
    },
  };
}

/** Runs `see-me ...args` to completion. */
export function seeMe(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; nodeArgs?: string[] } = {},
): Promise<CliResult> {
  return startSeeMe(args, options).exited;
}
