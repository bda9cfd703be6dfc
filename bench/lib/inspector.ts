import { once } from "node:events";
import { sleep } from "./stats.js";

/** process.memoryUsage() of another process. */
export interface ProcessMemory {
  rss: number;
  /** V8's committed heap: tells pages V8 keeps from pages malloc keeps when RSS stays up. */
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Memory after a full garbage collection, and as it was just before it (nothing hidden). */
export interface SettledMemory extends ProcessMemory {
  raw: ProcessMemory;
}

/**
 * An inspector session on a running Node process: SIGUSR1 opens its inspector on
 * 127.0.0.1:`port` (9229 unless the process was started with `--inspect-port`).
 * One at a time per port: close() waits until the port is free again.
 */
export async function openInspector(pid: number, port = 9229) {
  const base = `http://127.0.0.1:${port}`;
  process.kill(pid, "SIGUSR1");
  let url: string | undefined;
  for (let i = 0; i < 100 && !url; i++) {
    await sleep(100);
    try {
      const targets = (await (await fetch(`${base}/json/list`)).json()) as Array<{
        webSocketDebuggerUrl: string;
      }>;
      url = targets[0]?.webSocketDebuggerUrl;
    } catch {
      // Not listening yet.
    }
  }
  if (!url) throw new Error(`the inspector of ${pid} did not open on ${port}`);
  const socket = new WebSocket(url);
  await once(socket as unknown as EventTarget, "open");
  const replies = new Map<number, (result: unknown) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) replies.get(message.id)?.(message.result);
  });
  let nextId = 0;
  const send = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      const id = ++nextId;
      replies.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  const usage = async (): Promise<ProcessMemory> => {
    const reply = (await send("Runtime.evaluate", {
      expression: "JSON.stringify(process.memoryUsage())",
      returnByValue: true,
    })) as { result: { value: string } };
    const { rss, heapTotal, heapUsed, external, arrayBuffers } = JSON.parse(reply.result.value) as ProcessMemory;
    return { rss, heapTotal, heapUsed, external, arrayBuffers };
  };
  return {
    send,
    /** Heap and resident memory after full garbage collections, and the raw figures before them. */
    async memoryAfterGc(): Promise<SettledMemory> {
      const raw = await usage();
      await send("HeapProfiler.collectGarbage");
      await send("HeapProfiler.collectGarbage");
      return { ...(await usage()), raw };
    },
    async close() {
      void send("Runtime.evaluate", { expression: 'process.getBuiltinModule("node:inspector").close()' });
      await sleep(300);
      socket.close();
      // The port must be free again before the next process opens its inspector.
      for (let i = 0; i < 50; i++) {
        const open = await fetch(`${base}/json/list`).then(
          () => true,
          () => false,
        );
        if (!open) break;
        await sleep(100);
      }
    },
  };
}

/** Memory of process `pid` after full garbage collections, through its inspector. */
export async function memoryAfterGc(pid: number, port = 9229): Promise<SettledMemory> {
  const inspector = await openInspector(pid, port);
  try {
    return await inspector.memoryAfterGc();
  } finally {
    await inspector.close();
  }
}
