import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";

/**
 * What a client may learn from a failed call. Codes from our own services pass
 * with their messages (they describe the request); transport failures of the
 * internal hop do not: grpc-js words them with addresses and resolver notes
 * ("connect ECONNREFUSED 127.0.0.1:50051"), so the client gets a code it can
 * act on and a fixed sentence, and the detail stays in our logs.
 */
const UNAVAILABLE = "service temporarily unavailable; retry later";

export function publicError(reason: unknown): ConnectError {
  const error = ConnectError.from(reason);
  switch (error.code) {
    // Unknown from the internal hop means the upstream answered with something that is not gRPC, or not at all.
    case Code.Unavailable:
    case Code.Unknown:
      return new ConnectError(UNAVAILABLE, Code.Unavailable);
    case Code.DeadlineExceeded:
      return new ConnectError("deadline exceeded", Code.DeadlineExceeded);
    case Code.Internal:
      return new ConnectError("internal error", Code.Internal);
    case Code.Canceled:
      return new ConnectError("call cancelled", Code.Canceled);
    default:
      return error;
  }
}

/**
 * Connect reports a request body that is not valid protobuf as `Internal`
 * ("parse binary: …"), the code it also uses for a bad response on the client
 * side. For a server it is the caller's fault: InvalidArgument, not retried.
 * Connect aborts the call's context with the error just before it writes it,
 * on every protocol (Connect, gRPC, gRPC-web), so correcting the code there
 * covers them all without re-parsing bodies.
 */
export function isClientParseError(error: unknown): error is ConnectError {
  return error instanceof ConnectError && error.code === Code.Internal && error.rawMessage.startsWith("parse binary:");
}

export function reportParseErrorsAsInvalid(ctx: HandlerContext): void {
  ctx.signal.addEventListener(
    "abort",
    () => {
      const reason: unknown = ctx.signal.reason;
      if (isClientParseError(reason)) (reason as { code: Code }).code = Code.InvalidArgument;
      // JSON.parse quotes the offending text and may cut a surrogate pair in half. gRPC and
      // gRPC-web percent-encode the message into a trailer, where encodeURIComponent then
      // throws and the call is never answered: found by the fuzz suite (a hung call).
      if (reason instanceof ConnectError && LONE_SURROGATE.test(reason.rawMessage)) {
        (reason as { rawMessage: string }).rawMessage = reason.rawMessage.replace(LONE_SURROGATE_ALL, "\uFFFD");
      }
    },
    { once: true },
  );
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATE_ALL = new RegExp(LONE_SURROGATE.source, "g");
