import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

export type RequestHandler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n");

export interface Listener {
  port: number;
  /** Stops accepting, lets open requests finish for up to `graceMs`, then cuts the rest. */
  close(graceMs: number): Promise<void>;
}

/**
 * One plaintext port for HTTP/1.1 (Connect, gRPC-web, browsers) and h2c (gRPC,
 * Connect over HTTP/2). Node's plaintext HTTP/2 server cannot fall back to
 * HTTP/1.1, so we read the first bytes of each connection and hand it to the
 * matching server: the HTTP/2 client preface is unmistakable.
 */
export async function listenHttp(handler: RequestHandler, port: number, host: string): Promise<Listener> {
  const h1 = http.createServer(handler as http.RequestListener);
  const h2 = http2.createServer({}, handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  // The HTTP/1.1 server never listens itself, so Node does not track its
  // connections; we count open requests per socket to close idle ones at shutdown.
  const openRequests = new Map<net.Socket, number>();
  let closing = false;
  h1.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket;
    openRequests.set(socket, (openRequests.get(socket) ?? 0) + 1);
    res.once("close", () => {
      const left = (openRequests.get(socket) ?? 1) - 1;
      openRequests.set(socket, left);
      if (closing && left === 0) socket.destroy();
    });
    if (closing) res.setHeader("connection", "close");
  });
  h2.on("session", (session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  const route = (socket: net.Socket) => {
    let head = Buffer.alloc(0);
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) head = Buffer.concat([head, chunk]);
      const decided = head.length >= H2_PREFACE.length || !H2_PREFACE.subarray(0, head.length).equals(head);
      if (!decided) return;
      socket.off("readable", onReadable);
      socket.unshift(head);
      const isHttp2 = head.subarray(0, H2_PREFACE.length).equals(H2_PREFACE);
      if (!isHttp2) {
        openRequests.set(socket, 0);
        socket.once("close", () => openRequests.delete(socket));
      }
      (isHttp2 ? h2 : h1).emit("connection", socket);
    };
    socket.on("readable", onReadable);
  };
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    route(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new Error(`cannot listen on ${host}:${port}: ${error.message}`)));
    server.listen(port, host, resolve);
  });
  const address = server.address() as net.AddressInfo;

  return {
    port: address.port,
    async close(graceMs) {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      for (const [socket, open] of openRequests) if (open === 0) socket.destroy();
      // Connections still routing (no bytes yet) and requests that outlive the grace period are cut.
      for (const socket of sockets) if (!openRequests.has(socket) && socket.bytesRead === 0) socket.destroy();
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
