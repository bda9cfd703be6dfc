import type { PrismaPg } from "@prisma/adapter-pg";
import { type Prisma, PrismaClient } from "./generated/client.js";

export type IdentityDb = PrismaClient;
export type IdentityTx = Prisma.TransactionClient;

export function createIdentityDb(adapter: PrismaPg): IdentityDb {
  return new PrismaClient({ adapter });
}
