import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { GatewayApi } from "./api.js";
import { findConnection, fromBase64, retireConnection, toBase64 } from "./connection-state.js";
import { ClientError } from "./errors.js";
import {
  connectionPublicKeys,
  exportConnectionSecretKeys,
  generateConnectionKeyPairs,
  importConnectionKeyPairs,
  signWithAccountKey,
  signWithConnectionKey,
} from "./keys.js";
import { newPairId } from "./pair-id.js";
import {
  decodeConnectionQr,
  decodeInviteQr,
  decodeQr,
  encodeConnectionQr,
  encodeInviteQr,
  type ConnectionCard,
} from "./qr.js";
import { ReplayGuard } from "./replay-guard.js";
import { confirmPayload, initiatePayload } from "./signed-payloads.js";
import type { DeviceStorage, StoredConnection } from "./storage.js";

/*
 * The QR handshake of SPEC §3 as four steps (A initiates, B confirms):
 *   1. A: createOffer()        → A's code (A's connection keys + A's pairID)
 *   2. B: answerOffer(A's code) → B's code (B's keys + B's pairID); B now holds A's keys
 *   3. A: initiate(B's code)   → A signs {A's pairID, B's pairID} with its account key; the
 *                                server signs the invite; A shows it as a third code
 *   4. B: confirm(invite code) → the connection exists; A learns it from the 5/3 notice
 * Each side ends with the other's connection public keys taken only from a scanned code.
 */

export interface HandshakeDeps {
  storage: DeviceStorage;
  api: GatewayApi;
  now: () => Date;
  /** The account secret key, with a session ready for the connection service. */
  accountSecretKey: () => Promise<Uint8Array>;
}

export interface ShownCode {
  /** My pairID on the new connection (its local id). */
  connection: string;
  /** The QR text to show. */
  qr: string;
}

function newSide(
  label: string,
  role: StoredConnection["role"],
  now: Date,
): { connection: StoredConnection; qr: string } {
  const keys = generateConnectionKeyPairs();
  const secrets = exportConnectionSecretKeys(keys);
  const pairId = newPairId();
  const connection: StoredConnection = {
    pairId,
    label,
    role,
    status: role === "initiator" ? "offered" : "answered",
    signingSecretKey: toBase64(secrets.signingSecretKey),
    encryptionSecretKey: toBase64(secrets.encryptionSecretKey),
    lastPacketId: 0,
    replay: new ReplayGuard().snapshot(),
    peerSharing: true,
    createdAt: now.toISOString(),
  };
  return { connection, qr: encodeConnectionQr({ pairId, publicKeys: connectionPublicKeys(keys) }) };
}

function setPeer(connection: StoredConnection, card: ConnectionCard): void {
  connection.peerPairId = card.pairId;
  connection.peerSigningPublicKey = toBase64(card.publicKeys.signingPublicKey);
  connection.peerEncryptionPublicKey = toBase64(card.publicKeys.encryptionPublicKey);
}

/** Step 1 (A): a fresh key set and pairID, shown as a connection code. */
export async function createOffer(deps: HandshakeDeps, label: string): Promise<ShownCode> {
  const { connection, qr } = newSide(label, "initiator", deps.now());
  await deps.storage.update((state) => {
    state.connections.push(connection);
  });
  return { connection: connection.pairId, qr };
}

/** Step 2 (B): keeps A's keys and pairID from A's code and shows B's own code. */
export async function answerOffer(deps: HandshakeDeps, scanned: string, label: string): Promise<ShownCode> {
  const card = decodeConnectionQr(scanned);
  const { connection, qr } = newSide(label, "recipient", deps.now());
  setPeer(connection, card);
  await deps.storage.update((state) => {
    if (state.connections.some((c) => c.peerPairId === card.pairId))
      throw new ConnectError("this code was already scanned", Code.AlreadyExists);
    state.connections.push(connection);
  });
  return { connection: connection.pairId, qr };
}

/** Step 3 (A): B's code answers my open offer (`offer`, or the latest one); the server signs the invite. */
export async function initiate(
  deps: HandshakeDeps,
  scanned: string,
  offer?: string,
): Promise<ShownCode & { expireTime?: Date }> {
  const card = decodeConnectionQr(scanned);
  const state = await deps.storage.read();
  const open = offer ? findConnection(state, offer) : state.connections.filter((c) => c.status === "offered").at(-1);
  if (open?.status !== "offered") {
    throw new ConnectError(
      "no open code of yours to answer: show your code first (createOffer)",
      Code.FailedPrecondition,
    );
  }
  const signature = signWithAccountKey(await deps.accountSecretKey(), initiatePayload(open.pairId, card.pairId));
  const response = await deps.api.connection.initiateConnection({
    senderPairId: open.pairId,
    recipientPairId: card.pairId,
    accountSignature: signature,
    // Binds the invite to B's key from B's code: whoever else sees the invite code cannot confirm it.
    recipientSigningPublicKey: card.publicKeys.signingPublicKey,
  });
  const inviteQr = encodeInviteQr({
    senderPairId: open.pairId,
    recipientPairId: card.pairId,
    serverSignature: response.serverSignature,
  });
  await deps.storage.update((next) => {
    const connection = findConnection(next, open.pairId);
    setPeer(connection, card);
    connection.status = "invited";
    connection.inviteQr = inviteQr;
  });
  return {
    connection: open.pairId,
    qr: inviteQr,
    expireTime: response.expireTime && timestampDate(response.expireTime),
  };
}

/** Failures after which a confirm may still have been committed on the server. */
const CONFIRM_MAY_HAVE_LANDED = new Set([
  Code.FailedPrecondition,
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Aborted,
  Code.Canceled,
  Code.Unknown,
  Code.Internal,
]);

/**
 * Step 4 (B): A's invite code for the code B showed; the connection is made.
 * Scanning the invite again after a confirm whose answer was lost finds the
 * connection on the server and completes here.
 */
export async function confirm(deps: HandshakeDeps, scanned: string): Promise<StoredConnection> {
  const { recipientPairId } = decodeInviteQr(scanned);
  const state = await deps.storage.read();
  const mine = state.connections.find((c) => c.pairId === recipientPairId && c.status === "answered");
  if (!mine?.peerPairId) throw new ClientError("qr-mismatch", "this invite is not for a code you showed");
  const invite = decodeInviteQr(scanned, { senderPairId: mine.peerPairId, recipientPairId: mine.pairId });
  // The invite is bound to the key in the code I showed A: I prove I hold it (SPEC §3 step 4).
  const { signing } = importConnectionKeyPairs({
    signingSecretKey: fromBase64(mine.signingSecretKey),
    encryptionSecretKey: fromBase64(mine.encryptionSecretKey),
  });
  const binding = {
    recipientSigningPublicKey: signing.publicKey,
    recipientSignature: signWithConnectionKey(
      signing.secretKey,
      confirmPayload(invite.senderPairId, invite.recipientPairId),
    ),
  };
  try {
    await deps.api.connection.confirmConnection({ ...invite, ...binding });
  } catch (error) {
    // The confirm may have gone through with only its answer lost; a retry then
    // hears "already used". Whether the connection exists, the server's list says.
    if (!CONFIRM_MAY_HAVE_LANDED.has(ConnectError.from(error).code)) throw error;
    const listed = await deps.api.connection.listConnections({}).catch(() => undefined);
    if (!listed?.connections.some((c) => c.pairId === mine.pairId && c.peerPairId === mine.peerPairId)) throw error;
  }
  return deps.storage.update((next) => {
    const connection = findConnection(next, mine.pairId);
    connection.status = "active";
    return structuredClone(connection);
  });
}

export type ScanResult =
  | ({ step: "answered" } & ShownCode)
  | ({ step: "invited" } & ShownCode)
  | { step: "confirmed"; connection: StoredConnection };

/**
 * Whatever code was scanned: an invite confirms (step 4); a connection code
 * initiates if one of my codes is open (step 3), otherwise answers it (step 2).
 */
export async function scan(deps: HandshakeDeps, scanned: string, label: string): Promise<ScanResult> {
  if (decodeQr(scanned).kind === "invite") return { step: "confirmed", connection: await confirm(deps, scanned) };
  const state = await deps.storage.read();
  if (state.connections.some((c) => c.status === "offered"))
    return { step: "invited", ...(await initiate(deps, scanned)) };
  return { step: "answered", ...(await answerOffer(deps, scanned, label)) };
}

export interface BreakResult {
  /** My pairID on the connection. */
  connection: string;
  label: string;
  /** Set when the connection had already ended here: nothing was done. */
  alreadyEnded?: "broken" | "expired";
}

/**
 * Breaks a connection on the server (the peer gets 5/5) and ends it here. Any
 * connection the server may know (active, invited, or answered — my confirm may
 * have gone through unheard) is broken there first; NotFound means there is
 * nothing left to break.
 */
export async function breakConnection(deps: HandshakeDeps, ref: string): Promise<BreakResult> {
  const connection = findConnection(await deps.storage.read(), ref);
  const result: BreakResult = { connection: connection.pairId, label: connection.label };
  if (connection.status === "broken" || connection.status === "expired")
    return { ...result, alreadyEnded: connection.status };
  if (connection.status !== "offered") {
    try {
      await deps.api.connection.breakConnection({ pairId: connection.pairId });
    } catch (error) {
      // Already gone on the server (the peer broke it first, or it never got there): end it here all the same.
      if (ConnectError.from(error).code !== Code.NotFound) throw error;
    }
  }
  await deps.storage.update((state) => retireConnection(state, findConnection(state, connection.pairId), "broken"));
  return result;
}

/**
 * Aligns local connections with the server's list after it refused one of
 * them: an active connection the server no longer has was broken by the peer
 * (its notice may be still on the way); an invited one it has was confirmed,
 * and so was an answered one (my confirm went through but its answer was lost).
 * Returns the connections whose status changed, for the `connection` event: the
 * peer's 5/5 notice that follows finds the connection already broken and changes
 * nothing, so this is the only place the app can hear of it.
 */
export async function reconcileConnections(deps: HandshakeDeps): Promise<StoredConnection[]> {
  const { connections } = await deps.api.connection.listConnections({});
  const live = new Set(connections.map((c) => c.pairId));
  return deps.storage.update((state) => {
    const changed: StoredConnection[] = [];
    for (const connection of state.connections) {
      const before = connection.status;
      if (connection.status === "active" && !live.has(connection.pairId)) retireConnection(state, connection, "broken");
      if ((connection.status === "invited" || connection.status === "answered") && live.has(connection.pairId))
        connection.status = "active";
      if (connection.status !== before) changed.push(structuredClone(connection));
    }
    return changed;
  });
}
