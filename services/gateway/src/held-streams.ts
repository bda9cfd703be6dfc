import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import type { IncomingPacket, SubscribeRequest } from "@seeme/contracts/location";
import { CALLER_HEADER, SERVICE_HEADER } from "@seeme/runtime/caller";
import type { LiveHub } from "@seeme/runtime/live-hub";
import { BACKLOG_ONLY_HEADER, liveStream, type SubscribeEvent } from "@seeme/runtime/live-stream";
import type { GatewayContext } from "./context.js";
import { Credentials, SESSION_ENDED } from "./forward.js";
import { sessionKey } from "./gate.js";
import { publicError } from "./public-errors.js";
import { decrement } from "./public-streams.js";

export const UNAVAILABLE = "service temporarily unavailable; retry later";
export const GATEWAY_STARTING = "the gateway is starting; retry";
export const GATEWAY_STOPPING = "the gateway is shutting down; retry";

/**
 * The Subscribe streams this gateway holds (docs/hot-path.md), whichever way they arrive: over
 * HTTP/2 as gRPC or binary Connect, taken by the raw relay (relay.ts), or through the Connect
 * server — browsers, HTTP/1.1, gRPC-web, JSON (`subscribe` below). Either way the gateway's live
 * hub pushes the account's packets from NATS hints, location is read only for the backlog, and
 * the streams count against one cap per account.
 */
export class HeldStreams {
  private readonly byAccount = new Map<string, number>();
  private readonly credentials: Credentials;

  constructor(
    private readonly context: GatewayContext,
    /** Subscribe streams one account may hold open on this gateway. */
    private readonly maxPerAccount: number,
    /** The gateway's live hub, once NATS is reached. */
    private readonly live: () => LiveHub | undefined,
    /** Aborted at shutdown: held streams end with Unavailable, and the client retries elsewhere. */
    private readonly shutdownSignal: AbortSignal,
  ) {
    this.credentials = new Credentials(context.config.internalAuthSecret);
  }

  /** The hub, or Unavailable while the gateway has not reached NATS yet. */
  hub(): LiveHub {
    const hub = this.live();
    if (!hub) throw new ConnectError(GATEWAY_STARTING, Code.Unavailable);
    return hub;
  }

  /** Takes one of the account's stream slots or throws ResourceExhausted; the returned function gives it back (idempotent). */
  acquire(accountId: string): () => void {
    const open = this.byAccount.get(accountId) ?? 0;
    if (open >= this.maxPerAccount) {
      throw new ConnectError(
        `this account already has ${this.maxPerAccount} open Subscribe streams; close one first`,
        Code.ResourceExhausted,
      );
    }
    this.byAccount.set(accountId, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      decrement(this.byAccount, accountId);
    };
  }

  /**
   * What location holds for the account, read from its Subscribe up to `caught_up`. Opening the
   * read waits its turn in the hub (a few at a time), so thousands of streams opening at once, or
   * re-reading after a gap, do not query location's database together. The turn ends at the
   * first answer, so a client that reads slowly does not hold it.
   */
  async *backlog(
    hub: LiveHub,
    accountId: string,
    signal: AbortSignal,
    /** Trace context of the stream's span, when the caller has one to pass (the raw relay). */
    traceHeaders?: Record<string, string>,
  ): AsyncGenerator<IncomingPacket> {
    const now = Date.now();
    const headers: Record<string, string> = {
      [SERVICE_HEADER]: this.credentials.forService(now),
      [CALLER_HEADER]: this.credentials.forCaller(accountId, now),
      [BACKLOG_ONLY_HEADER]: "1",
      ...traceHeaders,
    };
    const responses = this.context.upstream.location.subscribe({}, { headers, signal })[Symbol.asyncIterator]();
    let readingOn = false;
    try {
      for (let next = await hub.read(() => responses.next()); !next.done; next = await responses.next()) {
        const { event } = next.value;
        if (event.case === "caughtUp") {
          // Location ends a backlog-only read right after caught_up. Its end is read, in the
          // background, not cancelled: a cancel is a RST_STREAM, and past nghttp2's reset rate
          // limit (a burst of 1,000, then 33/s) location's HTTP/2 server closes the whole
          // connection, failing every call on it. The call still ends with the stream (signal).
          readingOn = true;
          void readToEnd(responses);
          return;
        }
        if (event.case === "packet") yield event.value;
      }
    } finally {
      // Ends location's side if the stream ended before caught_up.
      if (!readingOn) await responses.return?.();
    }
    // Location ended the read before saying it was caught up (it is shutting down).
    if (!signal.aborted) throw new ConnectError(UNAVAILABLE, Code.Unavailable);
  }

  /**
   * Subscribe as the Connect server serves it: the calls the raw relay leaves to it (browsers,
   * which need CORS; HTTP/1.1; gRPC-web; JSON). The request gate has verified the session.
   */
  async *subscribe(_request: SubscribeRequest, ctx: HandlerContext): AsyncGenerator<SubscribeEvent> {
    const session = ctx.values.get(sessionKey);
    if (!session) throw new ConnectError("authentication required", Code.Unauthenticated);
    const hub = this.hub();
    const release = this.acquire(session.accountId);
    // A stream is checked once when it opens, so it must end with its session.
    const hold = this.context.sessions.hold(session);
    const signal = AbortSignal.any([ctx.signal, hold.signal]);
    try {
      yield* liveStream({
        hub,
        accountId: session.accountId,
        signal,
        backlog: () => this.backlog(hub, session.accountId, signal),
      });
    } catch (error) {
      if (!signal.aborted) throw this.failure(error);
    } finally {
      hold.release();
      release();
    }
    if (this.shutdownSignal.aborted) throw new ConnectError(GATEWAY_STOPPING, Code.Unavailable);
    // The client's deadline (or the client left, when nobody reads this any more).
    if (ctx.signal.aborted) throw ConnectError.from(ctx.signal.reason);
    if (hold.signal.aborted) throw new ConnectError(SESSION_ENDED, Code.Unauthenticated);
  }

  /** The public error a held stream ends with; a bug's or the internal hop's detail stays in our logs. */
  failure(error: unknown): ConnectError {
    const failure = publicError(error);
    if (!(error instanceof ConnectError)) this.context.log.error({ err: error }, "Subscribe stream failed");
    else if (failure.rawMessage !== error.rawMessage)
      this.context.log.warn({ err: error }, "Subscribe backlog read failed");
    return failure;
  }
}

async function readToEnd(responses: AsyncIterator<unknown>): Promise<void> {
  try {
    while (!(await responses.next()).done);
  } catch {
    // Ended by the stream's signal, or location went away: nothing is owed to anyone.
  }
}
