import type { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { Prisma, PrismaClient } from "./generated/client.js";

export type LocationDb = PrismaClient;
/** A Prisma client or an interactive transaction: what the query helpers take. */
export type Queryable = PrismaClient | Prisma.TransactionClient;

export function createLocationDb(adapter: PrismaPg): LocationDb {
  return new PrismaClient({ adapter });
}

// PostgreSQL's deadlock_detected and serialization_failure: the statement was
// cancelled to break a conflict, and running it again will succeed.
const CONFLICT_CODES = new Set(["40P01", "40001"]);

/**
 * True when PostgreSQL cancelled a statement to resolve a lock conflict: pg's
 * own error from direct statements (the Sync path); Prisma reports it as P2034
 * from its own queries and as P2010 (raw query failed) with the driver
 * adapter's original code from raw ones.
 */
export function isConflictAbort(error: unknown): boolean {
  if (error instanceof pg.DatabaseError) return error.code !== undefined && CONFLICT_CODES.has(error.code);
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (error.code === "P2034") return true;
  if (error.code !== "P2010") return false;
  const adapterError = error.meta?.driverAdapterError;
  const cause =
    typeof adapterError === "object" && adapterError !== null && "cause" in adapterError
      ? adapterError.cause
      : undefined;
  const code = typeof cause === "object" && cause !== null && "originalCode" in cause ? cause.originalCode : undefined;
  return typeof code === "string" && CONFLICT_CODES.has(code);
}
