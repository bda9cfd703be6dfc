/** SPEC §1: the server keeps a packet at most seven days, whatever a connection asks. */
export const MAX_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** A connection's packet life, capped at seven days; zero or unset means seven days. */
export function packetLifeMs(requestedMs: number): number {
  return requestedMs > 0 ? Math.min(requestedMs, MAX_RETENTION_MS) : MAX_RETENTION_MS;
}

/** Anything stored at or before this instant is never returned. */
export function oldestVisible(now: Date): Date {
  return new Date(now.getTime() - MAX_RETENTION_MS);
}
