import type http from "node:http";
import type http2 from "node:http2";

/**
 * What the raw relay (relay.ts) uses of a client's call: an HTTP/2 stream
 * (`http2.ServerHttp2Stream` is one), or an HTTP/1.1 request and its response
 * seen through `HttpRelayStream`.
 */
export interface RelayStream {
  readonly readableEnded: boolean;
  readonly closed: boolean;
  readonly destroyed: boolean;
  /** The HTTP/2 session the stream belongs to (its socket names the client). */
  readonly session?: { socket?: { remoteAddress?: string } } | null;
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "error" | "close" | "wantTrailers", listener: () => void): unknown;
  once(event: "end" | "close" | "drain", listener: () => void): unknown;
  off(event: "data", listener: (chunk: Buffer) => void): unknown;
  off(event: "end" | "drain" | "close", listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
  respond(headers: http2.OutgoingHttpHeaders, options?: http2.ServerStreamResponseOptions): void;
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): unknown;
  sendTrailers(trailers: http2.OutgoingHttpHeaders): void;
  /** Cancels the call (RST_STREAM over HTTP/2). */
  close(code?: number): void;
}

/**
 * An HTTP/1.1 call as a RelayStream: the request's body and events, the
 * response's writes. Only the Connect protocol's Subscribe takes it (gRPC needs
 * HTTP/2), and a Connect stream ends with its last message, never with
 * trailers, so `wantTrailers` is never emitted. CORS headers set on the
 * response before it reaches the relay (http.ts) go out with it.
 */
export class HttpRelayStream implements RelayStream {
  readonly session = undefined;

  constructor(
    private readonly req: http.IncomingMessage,
    private readonly res: http.ServerResponse,
  ) {}

  get readableEnded(): boolean {
    return this.req.readableEnded;
  }

  get closed(): boolean {
    return this.res.writableEnded;
  }

  get destroyed(): boolean {
    return this.res.destroyed;
  }

  on(event: "data" | "error" | "close" | "wantTrailers", listener: (chunk: Buffer) => void): this {
    if (event === "data") this.req.on("data", listener);
    // The response closes when it is done or the client's connection goes: the call's end either way.
    else if (event === "close") this.res.on("close", listener);
    else if (event === "error") {
      this.req.on("error", listener);
      this.res.on("error", listener);
    }
    return this;
  }

  once(event: "end" | "close" | "drain", listener: () => void): this {
    // The response closes when it is done or the client's connection goes: the call's end either way.
    (event === "end" ? this.req : this.res).once(event, listener);
    return this;
  }

  off(event: "data" | "end" | "drain" | "close", listener: (chunk: Buffer) => void): this {
    (event === "data" || event === "end" ? this.req : this.res).off(event, listener);
    return this;
  }

  pause(): this {
    this.req.pause();
    return this;
  }

  resume(): this {
    this.req.resume();
    return this;
  }

  respond(headers: http2.OutgoingHttpHeaders, options?: http2.ServerStreamResponseOptions): void {
    const { ":status": status, ...rest } = headers;
    this.res.writeHead(Number(status ?? 200), rest);
    if (options?.endStream) this.res.end();
    // A stream's headers go out now: a quiet stream's client learns it is open.
    else this.res.flushHeaders();
  }

  write(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }

  end(chunk?: Buffer): this {
    this.res.end(chunk);
    return this;
  }

  sendTrailers(): void {
    throw new Error("HTTP/1.1 relays only Connect streams, which end with a message, not trailers");
  }

  /** HTTP/1.1 cancels a call by closing its connection. */
  close(): void {
    this.req.socket.destroy();
  }
}
