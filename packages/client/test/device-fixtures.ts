import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createRouterTransport, type ServiceImpl } from "@connectrpc/connect";
import { ConnectionService } from "@seeme/contracts/connection";
import { GatewayService } from "@seeme/contracts/gateway";
import { IdentityService } from "@seeme/contracts/identity";
import {
  IncomingPacketSchema,
  LocationService,
  SyncTarget,
  type IncomingPacket,
  type SyncRequest,
} from "@seeme/contracts/location";
import { fromBase64, toBase64 } from "../src/connection-state.js";
import { seal } from "../src/envelope.js";
import { encodeInner } from "../src/inner-packet.js";
import { commitPackets, sealPayloads } from "../src/outgoing.js";
import {
  connectionPublicKeys,
  exportConnectionSecretKeys,
  generateAccountKeyPair,
  generateConnectionKeyPairs,
  importConnectionKeyPairs,
} from "../src/keys.js";
import { newPairId } from "../src/pair-id.js";
import { ReplayGuard } from "../src/replay-guard.js";
import { SeeMeClient } from "../src/see-me-client.js";
import { challengePayload, type ChallengeKind } from "../src/signed-payloads.js";
import { MemoryStorage, emptyState, type DeviceState, type StoredConnection } from "../src/storage.js";

/** Devices with ready-made connections and an in-memory gateway, to test SeeMeClient without the stack. */

/** Both sides of one active connection: `a` is A's stored side, `b` is B's. */
export function connectionPair(labels = { a: "B", b: "A" }): { a: StoredConnection; b: StoredConnection } {
  const keysA = generateConnectionKeyPairs();
  const keysB = generateConnectionKeyPairs();
  const pairA = newPairId();
  const pairB = newPairId();
  const side = (
    label: string,
    role: StoredConnection["role"],
    pairId: string,
    peerPairId: string,
    own: typeof keysA,
    peer: typeof keysB,
  ): StoredConnection => {
    const secrets = exportConnectionSecretKeys(own);
    const peerPublic = connectionPublicKeys(peer);
    return {
      pairId,
      peerPairId,
      label,
      role,
      status: "active",
      signingSecretKey: toBase64(secrets.signingSecretKey),
      encryptionSecretKey: toBase64(secrets.encryptionSecretKey),
      peerSigningPublicKey: toBase64(peerPublic.signingPublicKey),
      peerEncryptionPublicKey: toBase64(peerPublic.encryptionPublicKey),
      lastPacketId: 0,
      replay: new ReplayGuard().snapshot(),
      peerSharing: true,
      // Made now: keys older than 80 days start a rotation when a client opens.
      createdAt: new Date().toISOString(),
    };
  };
  return {
    a: side(labels.a, "initiator", pairA, pairB, keysA, keysB),
    b: side(labels.b, "recipient", pairB, pairA, keysB, keysA),
  };
}

/** A signed-in device state (session valid for a day) holding `connections`. */
export function deviceState(
  connections: StoredConnection[],
  session = { token: "session-1", expiresAt: new Date(Date.now() + 86_400_000).toISOString() },
): DeviceState {
  const account = generateAccountKeyPair();
  return {
    ...emptyState(),
    account: { accountId: "00000000-0000-4000-8000-000000000001", secretKey: toBase64(account.secretKey) },
    session,
    connections: structuredClone(connections),
  };
}

/** A packet `from` sends to `to` (its peer), as the relay would deliver it. */
export async function packetFrom(
  from: StoredConnection,
  to: StoredConnection,
  packetId: number,
  payload: string,
  meta: { sentAt?: number; accuracyM?: number; batteryPercent?: number } = {},
): Promise<IncomingPacket> {
  const senderKeys = importConnectionKeyPairs({
    signingSecretKey: fromBase64(from.signingSecretKey),
    encryptionSecretKey: fromBase64(from.encryptionSecretKey),
  });
  const recipientKeys = importConnectionKeyPairs({
    signingSecretKey: fromBase64(to.signingSecretKey),
    encryptionSecretKey: fromBase64(to.encryptionSecretKey),
  });
  const blob = await seal({
    senderKeys,
    recipientPublicKeys: connectionPublicKeys(recipientKeys),
    senderPairId: from.pairId,
    recipientPairId: to.pairId,
    packetId,
    plaintext: encodeInner(payload),
    ...meta,
  });
  return create(IncomingPacketSchema, { pairId: to.pairId, packetId, blob });
}

/** Seals `payloads` for `connection` (one of `state.connections`) and queues them in `state`, as a send would. */
export async function queueInto(
  state: DeviceState,
  connection: StoredConnection,
  payloads: string[],
): Promise<number[]> {
  const packets = await sealPayloads(connection, payloads, 4096, new Date());
  if (!commitPackets(state, connection.pairId, connection.lastPacketId, packets))
    throw new Error("connection moved while queueing");
  return packets.map((packet) => packet.packetId);
}

export interface FakeGateway {
  syncs: SyncRequest[];
  /** Authorization headers seen, per call, in order. */
  calls: Array<{ method: string; authorization: string | null }>;
  connection: Partial<ServiceImpl<typeof ConnectionService>>;
  identity: Partial<ServiceImpl<typeof IdentityService>>;
  /** Answers Sync (default: stores everything sent, delivers nothing). */
  sync?: (request: SyncRequest) => Promise<void> | void;
}

/** A gateway in memory: Sync stores whatever it is sent; connection and identity calls are set per test. */
export function fakeGateway(): FakeGateway {
  return { syncs: [], calls: [], connection: {}, identity: {} };
}

/** Signs in anyone with a fresh token: `session-2`, `session-3`, … */
export function acceptSignIns(gateway: FakeGateway): void {
  let sessions = 1;
  gateway.identity.createChallenge = (request) => {
    const nonce = new Uint8Array(32).fill(7);
    return { nonce, payload: challengePayload(request.purpose as ChallengeKind, nonce, request.accountId) };
  };
  gateway.identity.signIn = () => ({
    sessionToken: `session-${++sessions}`,
    expireTime: timestampFromDate(new Date(Date.now() + 3_600_000)),
  });
}

export function clientOn(gateway: FakeGateway, state: DeviceState, now?: () => Date): SeeMeClient {
  const record = (method: string, header: Headers) =>
    gateway.calls.push({ method, authorization: header.get("Authorization") });
  return new SeeMeClient({
    storage: new MemoryStorage(state),
    now,
    retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    transport: (auth) =>
      createRouterTransport(
        (router) => {
          router.service(GatewayService, { getServerInfo: () => ({ maxBlobBytes: 4096, maxPacketsPerSync: 500 }) });
          router.service(IdentityService, {
            createChallenge: (r, c) => gateway.identity.createChallenge!(r, c),
            signIn: (r, c) => (record("identity.signIn", c.requestHeader), gateway.identity.signIn!(r, c)),
          });
          router.service(ConnectionService, {
            initiateConnection: (r, c) => (
              record("connection.initiateConnection", c.requestHeader), gateway.connection.initiateConnection!(r, c)
            ),
            confirmConnection: (r, c) => (
              record("connection.confirmConnection", c.requestHeader), gateway.connection.confirmConnection!(r, c)
            ),
            breakConnection: (r, c) => (
              record("connection.breakConnection", c.requestHeader), gateway.connection.breakConnection!(r, c)
            ),
            listConnections: (r, c) => (
              record("connection.listConnections", c.requestHeader), gateway.connection.listConnections!(r, c)
            ),
          });
          router.service(LocationService, {
            async sync(request, c) {
              record("location.sync", c.requestHeader);
              gateway.syncs.push(request);
              await gateway.sync?.(request);
              const byPair = new Map<string, number[]>();
              for (const packet of request.data)
                byPair.set(packet.pairId, [...(byPair.get(packet.pairId) ?? []), packet.packetId]);
              return {
                syncMeta: [...byPair].map(([pairId, receivedPackets]) => ({
                  target: SyncTarget.SENDER,
                  pairId,
                  receivedPackets,
                })),
                data: [],
              };
            },
            async *subscribe() {},
          });
        },
        { transport: { interceptors: [auth] } },
      ),
  });
}
