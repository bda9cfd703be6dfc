import { randomBytes } from "node:crypto";
import { connect } from "nats";

export interface TestBus {
  /** Subject prefix for `connectEventBus`; streams become `<prefix>_<STREAM>`. */
  prefix: string;
  url: string;
  /** Deletes the suite's streams (their consumers go with them). */
  cleanup(): Promise<void>;
}

/** A NATS prefix no other suite (or earlier run of this one) uses. */
export function createTestBus(label: string): TestBus {
  const url = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
  const safe = label
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "_")
    .slice(0, 24);
  const prefix = `t_${safe}_${randomBytes(4).toString("hex")}`;
  return {
    prefix,
    url,
    async cleanup() {
      const nc = await connect({ servers: url });
      try {
        const jsm = await nc.jetstreamManager();
        for await (const name of jsm.streams.names()) {
          if (name.startsWith(`${prefix}_`)) await jsm.streams.delete(name);
        }
      } finally {
        await nc.close();
      }
    },
  };
}
/** Collects values pushed by async handlers so tests can await them without sleeps. */
export function collector<T>() {
  const items: T[] = [];
  let wake: (() => void) | null = null;
  return {
    items,
    push(item: T) {
      items.push(item);
      wake?.();
    },
    /** Resolves with the first `n` items, failing after `timeoutMs`. */
    async take(n: number, timeoutMs = 5000): Promise<T[]> {
      const deadline = Date.now() + timeoutMs;
      while (items.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out with ${items.length}/${n} items`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return items.slice(0, n);
    },
  };
}
