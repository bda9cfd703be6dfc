import { readdirSync, readFileSync } from "node:fs";

/** Linux clock ticks per second (USER_HZ), the unit of utime/stime in /proc/<pid>/stat. */
const TICKS_PER_SECOND = 100;

function ticksOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields overall.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** Pids of every process whose command name is `comm` (e.g. all PostgreSQL backends). */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === comm) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Resident memory of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * CPU use per named group of processes over an interval, in cores (1.0 = one
 * core busy the whole time). Groups are resolved at start; processes that
 * appear later (new PostgreSQL backends) are not counted.
 */
export function startCpuMeter(groups: Record<string, () => number[]>): () => Record<string, number> {
  const pids = Object.fromEntries(Object.entries(groups).map(([name, find]) => [name, find()]));
  const sum = () =>
    Object.fromEntries(
      Object.entries(pids).map(([name, list]) => [name, list.reduce((total, pid) => total + ticksOf(pid), 0)]),
    );
  const before = sum();
  const self = process.cpuUsage();
  const started = performance.now();
  return () => {
    const after = sum();
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(self);
    const result: Record<string, number> = {};
    for (const name of Object.keys(pids))
      result[name] = Math.round(((after[name] - before[name]) / TICKS_PER_SECOND / seconds) * 100) / 100;
    result["load generator"] = Math.round(((used.user + used.system) / 1e6 / seconds) * 100) / 100;
    return result;
  };
}
