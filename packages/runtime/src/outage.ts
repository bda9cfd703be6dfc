/**
 * Tells a dependency outage (PostgreSQL or NATS unreachable, a connection cut,
 * a pool that cannot connect) from a bug. An outage is not the client's fault
 * and goes away by itself: callers answer `Unavailable` so clients retry with
 * backoff, instead of `Internal`, which says "do not retry".
 */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  // nats.js
  "CONNECTION_CLOSED",
  "CONNECTION_DRAINING",
  "DISCONNECT",
  "CONNECTION_REFUSED",
  "TIMEOUT",
  "503",
  // Prisma: cannot reach / timed out / server closed the connection / pool timeout
  "P1001",
  "P1002",
  "P1008",
  "P1017",
  "P2024",
  // Prisma: a transaction could not start in time (every pooled connection busy) or outlived its
  // timeout, and was rolled back: the database is overloaded, and a retry may go through.
  "P2028",
]);
// PostgreSQL SQLSTATE classes and codes meaning "not now": connection exceptions, shutdown, too many connections.
const POSTGRES_OUTAGE = /^(08...|57P0[1-3]|53300)$/;
// Driver adapter error kinds (Prisma 7) for the same conditions.
const ADAPTER_KINDS = new Set([
  "DatabaseNotReachable",
  "ConnectionClosed",
  "SocketTimeout",
  "TooManyConnections",
  "TransactionAlreadyClosed",
]);
const MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Connection ended unexpectedly|Can't reach database server|Server has closed the connection/i;

export function isDependencyOutage(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  // Drivers wrap each other (Prisma → adapter → pg → socket): look through causes.
  while (current && typeof current === "object" && !seen.has(current)) {
    seen.add(current);
    const fields = current as {
      code?: unknown;
      kind?: unknown;
      message?: unknown;
      cause?: unknown;
      originalCode?: unknown;
    };
    const code =
      typeof fields.code === "string"
        ? fields.code
        : typeof fields.originalCode === "string"
          ? fields.originalCode
          : "";
    if (NETWORK_CODES.has(code) || POSTGRES_OUTAGE.test(code)) return true;
    if (typeof fields.kind === "string" && ADAPTER_KINDS.has(fields.kind)) return true;
    if (typeof fields.message === "string" && MESSAGES.test(fields.message)) return true;
    current = fields.cause ?? (current as { meta?: { driverAdapterError?: unknown } }).meta?.driverAdapterError;
  }
  return false;
}
