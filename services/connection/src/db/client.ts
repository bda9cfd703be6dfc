import type { PrismaPg } from "@prisma/adapter-pg";
import { Prisma, PrismaClient } from "./generated/client.js";

export type Db = PrismaClient;
export type Tx = Prisma.TransactionClient;
export type { Connection, Invite } from "./generated/client.js";

export function createDb(adapter: PrismaPg): Db {
  return new PrismaClient({ adapter });
}

/** True for a unique-constraint violation (Prisma P2002), e.g. a pairID that was used meanwhile. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002";
}
