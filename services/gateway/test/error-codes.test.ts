import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ChallengePurpose, IdentityService } from "@seeme/contracts/identity";
import { registerAndSignIn, type TestAccount } from "@seeme/testkit/accounts";
import { TEST_DATABASE_URL } from "@seeme/testkit/database";
import { frameFor, rawCall, WIRE_PROTOCOLS, type WireProtocol } from "@seeme/testkit/raw-rpc";
import { startStack, type Stack } from "../../../test/stack.js";
import { startTcpProxy, type TcpProxy } from "@seeme/testkit/tcp-proxy";
import { waitFor } from "@seeme/testkit/wait";

/**
 * The code a client gets says whose fault a failure is: a malformed request is
 * InvalidArgument on every protocol (not Internal, which clients must not
 * retry and operators page on), an outage of PostgreSQL or of an internal
 * service is Unavailable (retry with backoff), and no message names an
 * internal address, a stack or a host.
 */
const GARBAGE = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
const LEAKS = /127\.0\.0\.1|ECONNREFUSED|remote_addr|localhost|\bat .*\.(ts|js):\d+|node:internal|Last error/i;

describe("error codes at the gateway and the internal services", () => {
  let stack: Stack;
  let postgres: TcpProxy;
  let account: TestAccount;

  beforeAll(async () => {
    const pg = new URL(TEST_DATABASE_URL);
    postgres = await startTcpProxy(pg.hostname, Number(pg.port || 5432));
    const viaProxy = (url: string) => url.replace(`${pg.hostname}:${pg.port || 5432}`, `127.0.0.1:${postgres.port}`);
    stack = await startStack("errcodes", { databaseUrl: viaProxy });
    const identity = createClient(
      IdentityService,
      createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" }),
    );
    account = await registerAndSignIn(identity);
  });

  afterAll(async () => {
    postgres.restore();
    await stack?.stop();
    await postgres.close();
  });

  const binaryProtocols: WireProtocol[] = WIRE_PROTOCOLS.filter((protocol) => protocol !== "connect-json");

  it.each(binaryProtocols)("a malformed protobuf body is InvalidArgument for unary calls over %s", async (protocol) => {
    for (const path of [
      "/seeme.gateway.v1.GatewayService/GetServerInfo",
      "/seeme.identity.v1.IdentityService/CreateChallenge",
    ]) {
      const result = await rawCall(stack.gatewayUrl, path, protocol, frameFor(protocol, false, GARBAGE));
      expect({ path, code: result.code }).toEqual({ path, code: "InvalidArgument" });
    }
  });

  it.each(binaryProtocols)("a malformed protobuf body is InvalidArgument for a stream over %s", async (protocol) => {
    const result = await rawCall(
      stack.gatewayUrl,
      "/seeme.location.v1.LocationService/Subscribe",
      protocol,
      frameFor(protocol, true, GARBAGE),
      {
        stream: true,
        headers: { authorization: `Bearer ${account.sessionToken}` },
      },
    );
    expect(result.code).toBe("InvalidArgument");
  });

  it("bad JSON and JSON of the wrong type are InvalidArgument", async () => {
    const path = "/seeme.identity.v1.IdentityService/CreateChallenge";
    for (const json of ["{bad", '{"accountId": 5}', '{"purpose": []}', "[]", '"x"']) {
      const result = await rawCall(stack.gatewayUrl, path, "connect-json", new TextEncoder().encode(json));
      expect({ json, code: result.code }).toEqual({ json, code: "InvalidArgument" });
    }
  });

  it("answers JSON whose parse error cuts a surrogate pair (gRPC trailers) instead of hanging", async () => {
    // "\n(" then emoji: JSON.parse's message quotes half of one, which gRPC's trailer encoding cannot carry.
    const json = Buffer.concat([Buffer.from("0a28", "hex"), Buffer.from("💥".repeat(10))]);
    for (const [protocol, contentType] of [
      ["grpc", "application/grpc+json"],
      ["grpc-web", "application/grpc-web+json"],
    ] as const) {
      const result = await rawCall(
        stack.gatewayUrl,
        "/grpc.health.v1.Health/Check",
        protocol,
        frameFor(protocol, false, json),
        { contentType, waitMs: 3000 },
      );
      expect({ protocol, code: result.code }).toEqual({ protocol, code: "InvalidArgument" });
    }
  });

  it("an internal service called directly answers a malformed body with InvalidArgument", async () => {
    const result = await rawCall(
      `http://${stack.address("identity")}`,
      "/seeme.identity.v1.IdentityService/CreateChallenge",
      "grpc",
      frameFor("grpc", false, GARBAGE),
    );
    expect(result.code).toBe("InvalidArgument");
  });

  it("a PostgreSQL outage is Unavailable, at the gateway and at the service, without internal addresses", async () => {
    const gateway = createClient(
      IdentityService,
      createConnectTransport({ baseUrl: stack.gatewayUrl, httpVersion: "1.1" }),
    );
    const direct = createClient(
      IdentityService,
      createGrpcTransport({ baseUrl: `http://${stack.address("identity")}` }),
    );
    postgres.cut();
    try {
      for (const client of [gateway, direct]) {
        const error = await client
          .createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId })
          .catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 14 });
        expect((error as Error).message).not.toMatch(LEAKS);
      }
    } finally {
      postgres.restore();
    }
    expect(
      await waitFor(async () => {
        await gateway.createChallenge({ purpose: ChallengePurpose.SIGN_IN, accountId: account.accountId });
        return true;
      }, 15_000),
    ).toBe(true);
  });

  it("an internal service that is down is Unavailable at the gateway, and the message names no address", async () => {
    await stack.stopService("identity");
    try {
      for (const protocol of WIRE_PROTOCOLS) {
        const body =
          protocol === "connect-json" ? new TextEncoder().encode("{}") : frameFor(protocol, false, new Uint8Array());
        const result = await rawCall(
          stack.gatewayUrl,
          "/seeme.identity.v1.IdentityService/CreateChallenge",
          protocol,
          body,
        );
        expect({ protocol, code: result.code }).toEqual({ protocol, code: "Unavailable" });
        expect(result.message).not.toMatch(LEAKS);
      }
      // A session check does not need identity (the gateway verifies tokens itself): a bad token is
      // Unauthenticated whether identity is up or not (valid ones keep working: identity-down.test.ts).
      const sync = await rawCall(
        stack.gatewayUrl,
        "/seeme.location.v1.LocationService/Sync",
        "connect-proto",
        new Uint8Array(),
        {
          headers: { authorization: `Bearer ${"x".repeat(43)}` },
        },
      );
      expect(sync.code).toBe("Unauthenticated");
      expect(sync.message).not.toMatch(LEAKS);
    } finally {
      await stack.startService("identity");
    }
  });
});
