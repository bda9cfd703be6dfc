import { Code, ConnectError } from "@connectrpc/connect";
import { ClientError } from "./errors.js";

export interface RetryPolicy {
  /** Attempts for one call, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 200, maxDelayMs: 15_000 };

/** Failures that may pass by themselves: the server is down, overloaded or rate limiting us. */
const TRANSIENT = new Set([Code.Unavailable, Code.ResourceExhausted, Code.DeadlineExceeded, Code.Aborted]);

export function isTransient(error: unknown): boolean {
  return TRANSIENT.has(ConnectError.from(error).code) || isNetworkFailure(error);
}

/**
 * `fetch` rejects with a TypeError ("fetch failed" in Node, "Failed to fetch" in browsers) when the
 * gateway cannot be reached at all; Connect passes it on as Code.Unknown. It is as transient as a 503.
 * Duck-typed: errors from Node's fetch may come from another realm, where `instanceof` fails.
 */
export function isNetworkFailure(error: unknown): boolean {
  const failure = ConnectError.from(error);
  const cause = failure.cause as { name?: unknown } | undefined;
  return failure.code === Code.Unknown && typeof cause === "object" && cause !== null && cause.name === "TypeError";
}

function isErrorLike(value: unknown): value is { message: string; cause?: unknown; code?: unknown; errors?: unknown } {
  return typeof value === "object" && value !== null && typeof (value as { message?: unknown }).message === "string";
}

/**
 * Exponential backoff with full jitter: a random wait up to base·2^attempt (capped),
 * so many devices coming back after an outage do not retry in lockstep.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling * random());
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}

/**
 * The failure with the reason it happened spelled out: `fetch` reports an unreachable gateway
 * as a bare "fetch failed" and keeps why (refused, DNS, TLS, reset) in its `cause` chain, which
 * Connect wraps once more. The chain's messages are joined, e.g. "[unavailable] gateway
 * unreachable: fetch failed: connect ECONNREFUSED 127.0.0.1:8080".
 */
export function withCause(error: unknown): ConnectError {
  const failure = ConnectError.from(error);
  const chain: string[] = [];
  let cause: unknown = failure.cause;
  for (let depth = 0; isErrorLike(cause) && depth < 6; depth++) {
    const nested = Array.isArray(cause.errors) ? cause.errors.filter(isErrorLike).map((e) => e.message) : [];
    const text = [cause.message, ...nested].filter((m) => m !== "").join(", ");
    if (text !== "" && !chain.includes(text) && !failure.rawMessage.includes(text)) chain.push(text);
    const code = cause.code;
    if (typeof code === "string" && !chain.some((m) => m.includes(code))) chain.push(code);
    cause = cause.cause;
  }
  const network = isNetworkFailure(failure);
  if (chain.length === 0 && !network) return failure;
  const prefix = network ? "gateway unreachable: " : "";
  // Unreachable is Unavailable, whatever fetch called it: apps and the CLI branch on the code.
  const code = network ? Code.Unavailable : failure.code;
  return new ConnectError(
    `${prefix}${[failure.rawMessage, ...chain].join(": ")}`,
    code,
    failure.metadata,
    undefined,
    failure.cause,
  );
}

/** Runs `call`, retrying transient failures with backoff (full jitter); any other error is thrown at once, with its cause spelled out. */
export async function withRetry<T>(
  call: () => Promise<T>,
  policy: RetryPolicy,
  onRetry?: (error: ConnectError, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isTransient(error) || attempt + 1 >= policy.attempts)
        throw error instanceof ClientError ? error : withCause(error);
      const delay = backoffDelay(attempt, policy);
      onRetry?.(ConnectError.from(error), delay);
      await sleep(delay);
    }
  }
}
