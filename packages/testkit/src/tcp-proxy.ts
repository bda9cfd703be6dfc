import net from "node:net";
import type { WireWatcher } from "./wire-counters.js";

/**
 * A TCP proxy in front of a real dependency (PostgreSQL, NATS) that a test can
 * cut and restore, to show what services do when the dependency goes away and
 * comes back — without stopping the machine's shared server.
 */
export interface TcpProxy {
  port: number;
  /** Drops every open connection and refuses new ones. */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  close(): Promise<void>;
  /** Bytes clients sent through the proxy so far (e.g. to show a service sends no queries while idle). */
  bytesToTarget(): number;
}

export async function startTcpProxy(
  targetHost: string,
  targetPort: number,
  /** A fresh watcher per connection, fed what the client sends (wire-counters.ts). */
  options: { watch?: () => WireWatcher } = {},
): Promise<TcpProxy> {
  let up = true;
  let sent = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (!up) return void client.destroy();
    const upstream = net.connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    const watch = options.watch?.();
    client.on("data", (chunk: Buffer) => {
      sent += chunk.length;
      watch?.(chunk);
    });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const cut = () => {
    up = false;
    for (const socket of open) socket.destroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    cut,
    bytesToTarget: () => sent,
    restore: () => {
      up = true;
    },
    close() {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
