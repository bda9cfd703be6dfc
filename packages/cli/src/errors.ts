import { Code, ConnectError } from "@connectrpc/connect";

/** A refusal the CLI words itself, saying what to do next (exit status 1). */
export class CliError extends Error {}

/**
 * What went wrong, for a person: the network cases say which gateway could not be
 * reached and how to point at another one; errors from the SDK and the server keep
 * their own wording, without the "[code]" prefix.
 */
export function describeFailure(error: unknown, gateway: string): string {
  if (error instanceof CliError) return error.message;
  const failure = ConnectError.from(error);
  if (isUnreachable(failure)) {
    const hint = "is the stack running (npm start)? Use --gateway or SEEME_GATEWAY for another address";
    return `${unreachable(gateway, failure)}: ${hint}`;
  }
  return failure.rawMessage;
}

/** "gateway unreachable at http://…" with the lowest cause found (connection refused, DNS, …). */
export function unreachable(gateway: string, failure: ConnectError): string {
  const cause = rootCause(failure);
  return `gateway unreachable at ${gateway}${cause ? ` (${cause})` : ""}`;
}

export function isUnreachable(failure: ConnectError): boolean {
  const network = /fetch failed|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|socket/i;
  return failure.code === Code.Unavailable || network.test(failure.rawMessage);
}

function rootCause(error: unknown): string | undefined {
  let current: unknown = error;
  let found: string | undefined;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") found = code === "ECONNREFUSED" ? "connection refused" : code;
    current = current.cause;
  }
  return found;
}
