import { Code, ConnectError } from "@connectrpc/connect";
import { PrismaClientKnownRequestError } from "@prisma/client/runtime/client";

/** A bad request: the caller must change it before retrying (gRPC INVALID_ARGUMENT). */
export function invalid(message: string): ConnectError {
  return new ConnectError(message, Code.InvalidArgument);
}

/*
 * Every service's generated Prisma client re-exports the one error class of
 * @prisma/client/runtime, so these checks work for all of them.
 */

/** True for a unique-constraint violation (P2002), e.g. a key or pairID registered meanwhile. */
export function isUniqueViolation(error: unknown): boolean {
  return error instanceof PrismaClientKnownRequestError && error.code === "P2002";
}

/** True for a foreign-key violation (P2003): the referenced row was deleted meanwhile. */
export function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof PrismaClientKnownRequestError && error.code === "P2003";
}
