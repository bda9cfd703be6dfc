import net from "node:net";

/**
 * A TCP proxy in front of PostgreSQL that counts the statements its clients
 * send: one per simple Query ('Q') and one per extended-protocol Sync ('S'),
 * which ends every Parse/Bind/Execute round (what pg and Prisma send). Lets a
 * benchmark say how many queries one service made in a window.
 */
export interface PgCounter {
  port: number;
  statements(): number;
  close(): Promise<void>;
}

export async function startPgCounter(targetHost: string, targetPort: number): Promise<PgCounter> {
  let statements = 0;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    // Frontend messages: type byte + int32 length (counting itself); the first one (startup) has no type byte.
    let pending: Buffer = Buffer.alloc(0);
    let started = false;
    client.on("data", (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      for (;;) {
        if (!started) {
          if (pending.length < 4) break;
          const length = pending.readInt32BE(0);
          if (pending.length < length) break;
          // An SSLRequest (code 80877103) is followed by the real startup message.
          if (!(length === 8 && pending.readInt32BE(4) === 80877103)) started = true;
          pending = pending.subarray(length);
          continue;
        }
        if (pending.length < 5) break;
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) break;
        const type = pending[0];
        if (type === 0x51 || type === 0x53) statements += 1;
        pending = pending.subarray(1 + length);
      }
    });
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    statements: () => statements,
    close() {
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
