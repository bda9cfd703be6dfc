import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Why a client-side operation refused its input. Apps branch on `reason` (e.g. to tell
 * the user "that QR code is from a newer app version"); the message is for developers.
 */
export type ClientErrorReason =
  | "invalid-payload"
  | "invalid-key"
  | "invalid-pair-id"
  | "invalid-packet-id"
  | "envelope-malformed"
  | "envelope-version"
  | "envelope-unauthentic"
  | "envelope-sender-mismatch"
  | "replay"
  | "empty-text"
  | "unknown-parent"
  | "qr-foreign"
  | "qr-version"
  | "qr-kind"
  | "qr-truncated"
  | "qr-checksum"
  | "qr-malformed"
  | "qr-mismatch";

/**
 * A ConnectError (as the house conventions require) so the SDK reports local and remote
 * refusals the same way. Messages never echo payload contents, keys or pairIDs: they may
 * end up in logs, and a location or an address in a log is exactly what see-me must not leak.
 */
export class ClientError extends ConnectError {
  override name = "ClientError";

  /**
   * ConnectError's own `instanceof` test recognises only errors named "ConnectError",
   * and subclasses inherit it, so `error instanceof ClientError` was always false.
   * Use the ordinary prototype-chain test instead.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === "object" && value !== null && Object.prototype.isPrototypeOf.call(ClientError.prototype, value)
    );
  }

  constructor(
    readonly reason: ClientErrorReason,
    message: string,
    code: Code = Code.InvalidArgument,
  ) {
    super(message, code);
  }
}
