import { readdirSync, readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface ProfileEntry {
  name: string;
  /** Share of the busy (non-idle) samples in the window, in percent. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** Busy time in the window, ms. */
  busyMs: number;
  windowMs: number;
  topFunctions: ProfileEntry[];
  topModules: ProfileEntry[];
}

const IDLE = new Set(["(idle)", "(program)"]);

/** Which package or part of the code a frame belongs to. */
function moduleOf(url: string, functionName: string): string {
  if (functionName === "(garbage collector)") return "V8 garbage collector";
  if (url === "") return functionName.startsWith("(") ? functionName : "native (V8 builtins)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith("node:"))
    return `node:${url.slice(5).split("/")[0] === "internal" ? url.slice(5).split("/").slice(1, 2).join("") : url.slice(5)}`;
  const own = /\/(services\/[^/]+|packages\/[^/]+)\/src\/(.*)$/.exec(url);
  if (own)
    return own[1].includes("/generated") || own[2].includes("db/generated")
      ? `${own[1]} (generated Prisma client)`
      : own[1];
  return url.replace(/^file:\/\//, "");
}

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/(services|packages)\//, "$1/");
  return `${functionName || "(anonymous)"}${file ? ` ${file}:${lineNumber + 1}` : ""}`;
}

/**
 * Self time per function and per module of a V8 .cpuprofile, counting only
 * samples inside [fromUs, toUs] (the monotonic clock V8 and process.hrtime share
 * on Linux) so start-up and shutdown do not dilute the hot path.
 */
export function summarizeProfile(file: string, window?: { fromUs: number; toUs: number }, top = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let from = window?.fromUs ?? -Infinity;
  let to = window?.toUs ?? Infinity;
  // A window that misses the profile entirely means the clocks differ: fall back to everything.
  if (to < profile.startTime || from > profile.endTime) {
    from = -Infinity;
    to = Infinity;
  }
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const next = i + 1 < profile.timeDeltas.length ? profile.timeDeltas[i + 1] : 0;
    if (t < from || t > to) continue;
    selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + Math.max(0, next));
  }
  const functions = new Map<string, number>();
  const modules = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    if (IDLE.has(node.callFrame.functionName)) continue;
    busy += us;
    const name = frameName(node);
    functions.set(name, (functions.get(name) ?? 0) + us);
    const module = moduleOf(node.callFrame.url, node.callFrame.functionName);
    modules.set(module, (modules.get(module) ?? 0) + us);
  }
  const rank = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, percent: Math.round((us / Math.max(busy, 1)) * 1000) / 10 }));
  const windowMs = (Math.min(to, profile.endTime) - Math.max(from, profile.startTime)) / 1000;
  return {
    file,
    busyMs: Math.round(busy / 1000),
    windowMs: Math.round(windowMs),
    topFunctions: rank(functions),
    topModules: rank(modules),
  };
}

/** The .cpuprofile files node --cpu-prof wrote into `dir`, by pid. */
export function profilesIn(dir: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const name of readdirSync(dir)) {
    // Thread 0 is the main thread (module loader hooks, when registered, run on another).
    const pid = /^CPU\.\d+\.\d+\.(\d+)\.0\.\d+\.cpuprofile$/.exec(name)?.[1];
    if (pid) found.set(Number(pid), `${dir}/${name}`);
  }
  return found;
}
