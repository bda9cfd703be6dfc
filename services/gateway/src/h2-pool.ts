import { lookup } from "node:dns/promises";
import http2 from "node:http2";
import type { Logger } from "@seeme/runtime/logger";
import { pingOrDestroy } from "./h2-ping.js";

/**
 * HTTP/2 client sessions to an internal service's replicas, for the raw relay
 * (relay.ts): one session per resolved address, streams spread round-robin over
 * the addresses whose session is not failing. Targets are written as for grpc-js
 * (docs/cluster.md): `ipv4:a:p,b:p` (a fixed list), `dns:///host:port` (every
 * address the name resolves to, re-resolved every `resolveEveryMs` and after a
 * failure: a headless Service's pods), or a plain `host:port` (one session to
 * that name, like grpc-js's pick_first).
 */
export interface H2PoolOptions {
  log: Logger;
  resolveEveryMs?: number;
  /** A session whose connection failed is skipped this long (unless nothing else is left). */
  failedBackoffMs?: number;
  /** HTTP/2 PING on each session this often; unanswered for `pingTimeoutMs`, the session is dropped. */
  pingEveryMs?: number;
  pingTimeoutMs?: number;
}

interface Entry {
  address: string;
  session?: http2.ClientHttp2Session;
  failedUntil: number;
}

export function parseTarget(target: string): { addresses: string[]; resolve?: { host: string; port: string } } {
  const list = /^ipv[46]:(.+)$/.exec(target);
  if (list) return { addresses: list[1].split(",").map((address) => address.trim()) };
  const dns = /^dns:(?:\/\/[^/]*\/)?(.+)$/.exec(target);
  if (dns) {
    const at = dns[1].lastIndexOf(":");
    return { addresses: [], resolve: { host: dns[1].slice(0, at), port: dns[1].slice(at + 1) } };
  }
  return { addresses: [target] };
}

export class H2Pool {
  private entries: Entry[];
  private next = 0;
  private closed = false;
  private readonly resolver?: { host: string; port: string };
  private resolving?: Promise<void>;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly failedBackoffMs: number;

  constructor(
    target: string,
    private readonly options: H2PoolOptions,
  ) {
    const parsed = parseTarget(target);
    this.entries = parsed.addresses.map((address) => ({ address, failedUntil: 0 }));
    this.resolver = parsed.resolve;
    this.failedBackoffMs = options.failedBackoffMs ?? 1000;
    if (this.resolver) {
      void this.resolve();
      const timer = setInterval(() => void this.resolve(), options.resolveEveryMs ?? 30_000);
      timer.unref();
      this.timers.push(timer);
    }
    const pingEveryMs = options.pingEveryMs ?? 30_000;
    const ping = setInterval(() => this.ping(options.pingTimeoutMs ?? 10_000), pingEveryMs);
    ping.unref();
    this.timers.push(ping);
  }

  /** Addresses streams currently go to. */
  get addresses(): string[] {
    return this.entries.map((entry) => entry.address);
  }

  /** Resolves once the first resolution (dns targets) is done, so the first call has somewhere to go. */
  async ready(): Promise<void> {
    await this.resolving;
  }

  /**
   * Opens a stream on the next session round-robin. Throws when there is no
   * address at all or the session refuses new streams (the caller answers Unavailable).
   */
  request(headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    if (this.closed) throw new Error("pool closed");
    const entry = this.pick();
    if (!entry) {
      void this.resolve();
      throw new Error("no upstream address");
    }
    const session = this.sessionOf(entry);
    return session.request(headers, { endStream: false });
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const entry of this.entries) entry.session?.close();
  }

  private pick(): Entry | undefined {
    const count = this.entries.length;
    if (count === 0) return undefined;
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      const entry = this.entries[(this.next + i) % count];
      if (entry.failedUntil <= now) {
        this.next = (this.next + i + 1) % count;
        return entry;
      }
    }
    // Every address failed recently: try the next anyway (it may be back).
    const entry = this.entries[this.next % count];
    this.next = (this.next + 1) % count;
    return entry;
  }

  private sessionOf(entry: Entry): http2.ClientHttp2Session {
    const current = entry.session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = http2.connect(`http://${entry.address}`, {
      // The peer may not announce SETTINGS_MAX_CONCURRENT_STREAMS (grpc-js does not): without this, Node
      // assumes 100 and queues every stream beyond it, and Subscribe streams are long-lived.
      peerMaxConcurrentStreams: 2 ** 31 - 1,
      // Every stream's buffered frames count against this; thousands of idle streams are fine, a stuck reader is not.
      maxSessionMemory: 64,
    });
    entry.session = session;
    const forget = () => {
      if (entry.session === session) entry.session = undefined;
    };
    session.once("connect", () => {
      entry.failedUntil = 0;
    });
    session.on("error", (error: Error) => {
      entry.failedUntil = Date.now() + this.failedBackoffMs;
      this.options.log.warn({ err: error, address: entry.address }, "upstream HTTP/2 session failed");
      if (this.resolver) void this.resolve();
    });
    // A replica shutting down sends GOAWAY: its open streams finish, new ones go elsewhere.
    session.once("goaway", forget);
    session.once("close", forget);
    return session;
  }

  private ping(timeoutMs: number): void {
    for (const entry of this.entries) {
      const session = entry.session;
      if (!session || session.closed || session.destroyed || session.connecting) continue;
      pingOrDestroy(session, timeoutMs);
    }
  }

  private resolve(): Promise<void> {
    const resolver = this.resolver;
    if (!resolver || this.closed) return Promise.resolve();
    this.resolving ??= lookup(resolver.host, { all: true })
      .then((found) => {
        const addresses = found.map((entry) =>
          entry.family === 6 ? `[${entry.address}]:${resolver.port}` : `${entry.address}:${resolver.port}`,
        );
        const kept = this.entries.filter((entry) => addresses.includes(entry.address));
        for (const entry of this.entries) if (!addresses.includes(entry.address)) entry.session?.close();
        const known = new Set(kept.map((entry) => entry.address));
        this.entries = [
          ...kept,
          ...addresses.filter((address) => !known.has(address)).map((address) => ({ address, failedUntil: 0 })),
        ];
      })
      .catch((error: unknown) => this.options.log.warn({ err: error, host: resolver.host }, "cannot resolve upstream"))
      .finally(() => {
        this.resolving = undefined;
      });
    return this.resolving;
  }
}
