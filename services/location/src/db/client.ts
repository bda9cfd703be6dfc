import type { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient, type Prisma } from "./generated/client.js";

export type LocationDb = PrismaClient;
/** A Prisma client or an interactive transaction: what the query helpers take. */
export type Queryable = PrismaClient | Prisma.TransactionClient;

export function createLocationDb(adapter: PrismaPg): LocationDb {
  return new PrismaClient({ adapter });
}
