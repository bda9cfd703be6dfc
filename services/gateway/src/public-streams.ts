import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Counts open unauthenticated streams (grpc.health.v1 Watch): without a cap,
 * anyone can hold thousands of them open for free, each costing memory and a
 * listener on the health monitor. Capped per connection (one HTTP/2 session
 * multiplexes many) and per client address (many sessions from one host).
 */
export class PublicStreams {
  private readonly byConnection = new Map<string, number>();
  private readonly byAddress = new Map<string, number>();

  constructor(
    private readonly perConnection: number,
    private readonly perAddress: number,
  ) {}

  /** Takes a slot or throws ResourceExhausted; the returned function gives it back (idempotent). */
  acquire(connection: string, address: string): () => void {
    const onConnection = this.byConnection.get(connection) ?? 0;
    const onAddress = this.byAddress.get(address) ?? 0;
    if (onConnection >= this.perConnection || onAddress >= this.perAddress) {
      throw new ConnectError(
        "too many open unauthenticated streams from this client; close some and retry",
        Code.ResourceExhausted,
      );
    }
    this.byConnection.set(connection, onConnection + 1);
    this.byAddress.set(address, onAddress + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      decrement(this.byConnection, connection);
      decrement(this.byAddress, address);
    };
  }
}

/** Takes one from `key`'s count, forgetting the key at zero. */
export function decrement(counts: Map<string, number>, key: string): void {
  const left = (counts.get(key) ?? 1) - 1;
  if (left <= 0) counts.delete(key);
  else counts.set(key, left);
}
