import { readFileSync } from "node:fs";
import pg from "pg";

/** Linux clock ticks per second (USER_HZ), the unit of utime/stime in /proc/<pid>/stat. */
const TICKS_PER_SECOND = 100;

/** CPU ticks (user + system) a process used so far; undefined once it is gone. */
function ticksOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields overall.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Resident memory of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match ? Number(match[1]) * 1024 : 0;
}

/** The processes of one group, looked up again at every sample (PostgreSQL backends come and go). */
export type PidSource = () => number[] | Promise<number[]>;

/**
 * The PostgreSQL backends serving this stack only: the connections whose
 * application_name starts with `prefix` (the bench sets it in the services'
 * database URLs). Other clients of the machine's PostgreSQL are not counted.
 */
export async function postgresBackends(connectionString: string, prefix: string) {
  // Reconnects when the server ends the connection (other sessions on this machine test outages).
  let client: pg.Client | undefined;
  const connected = async () => {
    if (client) return client;
    const fresh = new pg.Client({ connectionString, application_name: "seeme_bench_meter" });
    fresh.on("error", () => {
      if (client === fresh) client = undefined;
    });
    await fresh.connect();
    client = fresh;
    return fresh;
  };
  await connected();
  const find: PidSource = async () => {
    try {
      const { rows } = await (await connected()).query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE starts_with(application_name, $1)",
        [prefix],
      );
      return rows.map((row) => row.pid);
    } catch {
      client = undefined;
      // This sample finds no new backend; the known ones are still read (startCpuMeter).
      return [];
    }
  };
  return { find, close: async () => client?.end() };
}

/**
 * CPU use per named group of processes over an interval, in cores (1.0 = one
 * core busy the whole time), plus this process's own ("load generator").
 * Every `sampleMs` each group's processes are looked up again: one that
 * appears later (a PostgreSQL connection opened meanwhile) counts from its
 * start; one that ends counts up to its last sample.
 */
export async function startCpuMeter(
  groups: Record<string, PidSource>,
  sampleMs = 250,
): Promise<() => Promise<Record<string, number>>> {
  // Per group: pid → [ticks when first seen (0 if it started after the meter), ticks last seen].
  const seen = new Map<string, Map<number, [number, number]>>(Object.keys(groups).map((name) => [name, new Map()]));
  const sample = async (first: boolean) => {
    for (const [name, find] of Object.entries(groups)) {
      const known = seen.get(name)!;
      for (const pid of new Set([...known.keys(), ...(await find())])) {
        const ticks = ticksOf(pid);
        if (ticks === undefined) continue;
        const entry = known.get(pid);
        if (entry) entry[1] = Math.max(entry[1], ticks);
        else known.set(pid, [first ? ticks : 0, ticks]);
      }
    }
  };
  await sample(true);
  const self = process.cpuUsage();
  const started = performance.now();
  let sampling = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(() => sample(false));
  }, sampleMs);
  return async () => {
    clearInterval(timer);
    await sampling;
    await sample(false);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(self);
    // Not rounded: at a few dozen packets per second a hundredth of a core is a large share of a packet.
    const cores = (ticks: number) => ticks / TICKS_PER_SECOND / seconds;
    const result: Record<string, number> = {};
    for (const [name, known] of seen)
      result[name] = cores([...known.values()].reduce((total, [from, to]) => total + (to - from), 0));
    result["load generator"] = (used.user + used.system) / 1e6 / seconds;
    return result;
  };
}
