import { Code, ConnectError, createClient, type CallOptions, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { ConnectionService } from "@seeme/contracts/connection";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { registerAndSignIn, type TestAccount } from "@seeme/testkit/accounts";
import { pairAccounts } from "@seeme/testkit/pairing";

/** One simulated phone: its own account, session and HTTP/2 connection to the gateway (gRPC protocol). */
export interface Device {
  account: TestAccount;
  location: Client<typeof LocationService>;
  connection: Client<typeof ConnectionService>;
  /** Authorization for every call. */
  call: CallOptions;
  close(): void;
}

/** A connection between two devices, used one way: `sender` sends to `to`, where `recipient` receives. */
export interface DevicePair {
  sender: Device;
  recipient: Device;
  to: string;
  /** Next packet id the sender uses (they increase per recipient pairID). */
  nextPacketId: number;
}

/**
 * How a device speaks to the gateway: gRPC over HTTP/2 (native apps), the Connect protocol over
 * HTTP/2, or the Connect protocol over HTTP/1.1 — the SDK's fetch against an http:// gateway and
 * a browser's, each call on a connection of its own.
 */
export type DeviceProtocol = "grpc" | "connect" | "connect-http1";

/**
 * A device for an account that already exists, with its own connection (opened on its first call).
 */
export function deviceFor(gatewayUrl: string, account: TestAccount, protocol: DeviceProtocol = "grpc"): Device {
  const sessions = new Http2SessionManager(gatewayUrl);
  const transport =
    protocol === "grpc"
      ? createGrpcTransport({ baseUrl: gatewayUrl, sessionManager: sessions })
      : protocol === "connect"
        ? createConnectTransport({ baseUrl: gatewayUrl, httpVersion: "2", sessionManager: sessions })
        : createConnectTransport({ baseUrl: gatewayUrl, httpVersion: "1.1" });
  return {
    account,
    location: createClient(LocationService, transport),
    connection: createClient(ConnectionService, transport),
    call: { headers: { authorization: `Bearer ${account.sessionToken}` } },
    close: () => sessions.abort(),
  };
}

/**
 * Runs `task` again after a refusal by admission control (ResourceExhausted, after its
 * retry-after-ms hint): on a loaded shared machine sign-ups and pairings are refused now and then.
 * Each task starts over (a new account, a new invite), so a half-done attempt is simply left behind.
 */
async function retryBusy<T>(task: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await task();
    } catch (error) {
      const failure = ConnectError.from(error);
      if (failure.code !== Code.ResourceExhausted) throw error;
      await new Promise((resolve) => setTimeout(resolve, Number(failure.metadata.get("retry-after-ms") ?? 200)));
    }
  }
}

async function createDevice(gatewayUrl: string): Promise<Device> {
  const account = await retryBusy(async () => {
    const sessions = new Http2SessionManager(gatewayUrl);
    try {
      return await registerAndSignIn(
        createClient(IdentityService, createGrpcTransport({ baseUrl: gatewayUrl, sessionManager: sessions })),
      );
    } finally {
      sessions.abort();
    }
  });
  return deviceFor(gatewayUrl, account);
}

/** Runs `task` for 0..n-1, at most `concurrency` at a time. */
async function inParallel<T>(n: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      while (next < n) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

/** Signs up `n` devices through the gateway's public identity API. */
export function createDevices(gatewayUrl: string, n: number, concurrency = 8): Promise<Device[]> {
  return inParallel(n, concurrency, () => createDevice(gatewayUrl));
}

/** Signs up 2n devices and connects them in n pairs through the gateway's public connection API. */
export async function createPairs(gatewayUrl: string, n: number): Promise<DevicePair[]> {
  const devices = await createDevices(gatewayUrl, 2 * n);
  return inParallel(n, 8, async (i) => {
    const sender = devices[2 * i];
    const recipient = devices[2 * i + 1];
    // The recipient initiates, so `initiatorPairId` is where the sender sends.
    const { initiatorPairId } = await retryBusy(() =>
      pairAccounts(sender.connection, recipient.account, sender.account),
    );
    return { sender, recipient, to: initiatorPairId, nextPacketId: 1 };
  });
}
