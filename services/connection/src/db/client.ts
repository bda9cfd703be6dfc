import type { PrismaPg } from "@prisma/adapter-pg";
import { type Prisma, PrismaClient } from "./generated/client.js";

export type Db = PrismaClient;
export type Tx = Prisma.TransactionClient;
export type { Connection, Invite } from "./generated/client.js";

export function createDb(adapter: PrismaPg): Db {
  return new PrismaClient({ adapter });
}
