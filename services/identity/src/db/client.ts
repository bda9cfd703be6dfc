import type { PrismaPg } from "@prisma/adapter-pg";
import { Prisma, PrismaClient } from "./generated/client.js";

export type IdentityDb = PrismaClient;
export type IdentityTx = Prisma.TransactionClient;

export function createIdentityDb(adapter: PrismaPg): IdentityDb {
  return new PrismaClient({ adapter });
}

/** True for a unique-constraint violation (P2002), e.g. a public key registered twice. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002";
}

/** True for a foreign-key violation (P2003): the referenced account was deleted meanwhile. */
export function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2003";
}
