/**
 * Check-in (SPEC §8 held packets): "if I'm not home by 23:00, tell Mum where I
 * was". The device seals the message (and, if asked, a location) now and sends
 * it to the relay with a release time; the relay holds it, unreadable to it and
 * invisible to the recipient, until then. While all is well the device moves
 * the time on (extendCheckIn) or cancels it (cancelCheckIn). Sealed at
 * creation, it is released even if the device is off or destroyed by then.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { HeldPacketService, type LocationService } from "@seeme/contracts/location";
import { encodeLocation, type LocationUpdate } from "./codec-location.js";
import { splitText } from "./codec-text.js";
import { TextMessageKind } from "./codes.js";
import { findConnection, fromBase64 } from "./connection-state.js";
import { MAX_COMMIT_ATTEMPTS, sealPayloads } from "./outgoing.js";
import type { DeviceStorage, OutboxPacket } from "./storage.js";

/** The relay holds a packet at most seven days ahead. */
export const MAX_CHECK_IN_MS = 7 * 24 * 60 * 60 * 1000;

export interface CheckInOptions {
  /** When the message is released if the check-in is not cancelled first: at most seven days ahead. */
  until: Date;
  /** The connection to tell (my pairID, the peer's pairID, a unique prefix or its label). */
  to: string;
  /** The text the recipient gets, e.g. "I meant to be home by 23:00". */
  message: string;
  /** Also seal this device's last location (the one given, or the last sent from this client). */
  includeLastLocation?: boolean;
  /** The location to seal with the message; overrides the last one sent. */
  location?: Omit<LocationUpdate, "sharing">;
}

/** A check-in as the device keeps it, to extend or cancel it. */
export interface CheckIn {
  /** My pairID of the connection. */
  connection: string;
  /** The recipient's pairID the packets were sent to. */
  peerPairId: string;
  /** The held packets: the text's parts, then the location if any. */
  packetIds: number[];
  releaseAt: Date;
}

/** What check-in needs from the client: storage, the relay, limits, the session, a clock. */
export interface CheckInDeps {
  storage: DeviceStorage;
  location: Pick<Client<typeof LocationService>, "sync">;
  held: Pick<Client<typeof HeldPacketService>, "cancelHeldPacket" | "rescheduleHeldPacket">;
  maxBlobBytes: () => Promise<number>;
  /** Runs a call with a valid session (signing in again once if it was refused), retrying transient failures. */
  authenticated: <T>(call: () => Promise<T>) => Promise<T>;
  now: () => Date;
  /** The last location this client sent, if any. */
  lastLocation?: Omit<LocationUpdate, "sharing">;
}

export function heldPacketClient(transport: Transport): Client<typeof HeldPacketService> {
  return createClient(HeldPacketService, transport);
}

function checkUntil(until: Date, now: Date): void {
  const ms = until.getTime() - now.getTime();
  if (!Number.isFinite(ms) || ms <= 0) throw new ConnectError("until must be in the future", Code.InvalidArgument);
  if (ms > MAX_CHECK_IN_MS) throw new ConnectError("until must be at most seven days ahead", Code.InvalidArgument);
}

/**
 * Seals the check-in and hands it to the relay, held until `until`. The
 * packets take the connection's next packetIDs but never enter the outbox (the
 * outbox sends without a release time): they are sent here, and a retry resends
 * the same bytes, which the relay stores once.
 */
export async function checkIn(deps: CheckInDeps, options: CheckInOptions): Promise<CheckIn> {
  checkUntil(options.until, deps.now());
  const location = options.location ?? (options.includeLastLocation ? deps.lastLocation : undefined);
  if (options.includeLastLocation && !location) {
    throw new ConnectError(
      "no location to include: none was sent from this client yet; pass one",
      Code.FailedPrecondition,
    );
  }
  const maxBlobBytes = await deps.maxBlobBytes();
  const held = await sealHeld(deps, options, location, maxBlobBytes);
  const releaseAt = timestampFromDate(options.until);
  const data = held.packets.map((packet) => ({
    pairId: packet.pairId,
    packetId: packet.packetId,
    blob: fromBase64(packet.blob),
    releaseAt,
  }));
  // `authenticated` retries transient failures itself.
  await deps.authenticated(() => deps.location.sync({ data, skipIncoming: true }));
  return {
    connection: held.connection,
    peerPairId: held.peerPairId,
    packetIds: data.map((packet) => packet.packetId),
    releaseAt: options.until,
  };
}

/** Moves the release time (before it passed). NotFound once released or cancelled. */
export async function extendCheckIn(deps: CheckInDeps, checkIn: CheckIn, until: Date): Promise<CheckIn> {
  checkUntil(until, deps.now());
  for (const packetId of checkIn.packetIds) {
    await deps.authenticated(() =>
      deps.held.rescheduleHeldPacket({
        pairId: checkIn.peerPairId,
        packetId,
        releaseAt: timestampFromDate(until),
      }),
    );
  }
  return { ...checkIn, releaseAt: until };
}

/**
 * Cancels the check-in: the recipient never learns it existed. Packets already
 * gone (released, or cancelled by an earlier attempt) are skipped; if none was
 * still held, NotFound: it was released.
 */
export async function cancelCheckIn(deps: CheckInDeps, checkIn: CheckIn): Promise<void> {
  let cancelled = 0;
  for (const packetId of checkIn.packetIds) {
    try {
      await deps.authenticated(() => deps.held.cancelHeldPacket({ pairId: checkIn.peerPairId, packetId }));
      cancelled++;
    } catch (error) {
      if (ConnectError.from(error).code !== Code.NotFound) throw error;
    }
  }
  if (cancelled === 0) throw new ConnectError("the check-in was already released or cancelled", Code.NotFound);
}

/**
 * Seals the check-in's packets and reserves their packetIDs on the connection
 * (sealing is asynchronous, so this commits only if no other send moved the
 * connection meanwhile, and seals again otherwise). They never enter the outbox.
 */
async function sealHeld(
  deps: CheckInDeps,
  options: CheckInOptions,
  location: Omit<LocationUpdate, "sharing"> | undefined,
  maxBlobBytes: number,
): Promise<{ connection: string; peerPairId: string; packets: OutboxPacket[] }> {
  for (let attempt = 0; attempt < MAX_COMMIT_ATTEMPTS; attempt++) {
    const state = await deps.storage.read();
    const connection = findConnection(state, options.to);
    const payloads = splitText(options.message, {
      kind: TextMessageKind.New,
      sharing: state.sharing,
      parentPacketId: 0,
      parentIsSender: false,
    });
    if (location) payloads.push(encodeLocation({ ...location, sharing: state.sharing }));
    const packets = await sealPayloads(connection, payloads, maxBlobBytes, deps.now());
    const reserved = await deps.storage.update((current) => {
      const now = current.connections.find((c) => c.pairId === connection.pairId);
      if (now?.status !== "active" || now.lastPacketId !== connection.lastPacketId) return false;
      now.lastPacketId += packets.length;
      return true;
    });
    if (reserved) return { connection: connection.pairId, peerPairId: connection.peerPairId!, packets };
  }
  throw new ConnectError("the device state kept changing while sealing the check-in; try again", Code.Aborted);
}
