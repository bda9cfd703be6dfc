import { readdirSync, statSync } from "node:fs";
import { startProcessStack } from "./bench/lib/stack.ts";
import { fuzzStack } from "./fuzz/run.ts";
const dir = "/tmp/fuzzrss-snap";
const stack = await startProcessStack("fuzzsnap", { logDir: dir, nodeFlags: ["--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${dir}`], raiseLimits: false });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
try {
  await fuzzStack(stack, {
    requests: Number(process.env.N ?? 20000), seed: 424242, passes: 1, log: () => {},
    measure: async () => {
      await sleep(65000);
      const count = readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot")).length;
      process.kill(stack.pid("gateway"), "SIGUSR2");
      for (;;) {
        await sleep(1000);
        const files = readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot"));
        if (files.length > count) { const f = files.sort().at(-1)!; const s1 = statSync(`${dir}/${f}`).size; await sleep(2000); if (statSync(`${dir}/${f}`).size === s1) break; }
      }
      return [];
    },
  });
} finally { await stack.stop(); }
