import { ConfigError } from "@seeme/runtime/config";
import { loadConfig } from "../src/config.js";
import { createSigner } from "../src/signing-key.js";
import { INITIATE_PREFIX, initiatePayload, invitePayload, isPairId } from "@seeme/contracts/protocol";

const base = {
  INTERNAL_AUTH_SECRET: "x".repeat(32),
  CONNECTION_DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/test?schema=connection",
};

test("defaults follow the configuration table", () => {
  const config = loadConfig(base);
  expect(config).toMatchObject({
    port: 50052,
    metricsPort: 9102,
    identityAddr: "127.0.0.1:50051",
    inviteTtlMs: 15 * 60_000,
    inviteSweepIntervalMs: 30_000,
    outboxIntervalMs: 1000,
    signingKeyFile: ".data/server-signing-key",
    initiateRate: { capacity: 10, perSecond: 10 / 60 },
    maxPendingInvites: 20,
  });
  expect(config.serverSigningKey).toBeUndefined();
  expect(loadConfig({ ...base, INVITE_TTL: "2m" }).inviteTtlMs).toBe(120_000);
});

test("SERVER_SIGNING_KEY must be a base64 32-byte seed, and is required in production", () => {
  const seed = Buffer.alloc(32, 7);
  expect(Buffer.from(loadConfig({ ...base, SERVER_SIGNING_KEY: seed.toString("base64") }).serverSigningKey!)).toEqual(
    seed,
  );
  for (const bad of [
    Buffer.alloc(31).toString("base64"),
    "not*base64*at*all*but*long*enough*xx==",
    Buffer.alloc(33).toString("base64"),
  ]) {
    expect(() => loadConfig({ ...base, SERVER_SIGNING_KEY: bad })).toThrow(
      new ConfigError("SERVER_SIGNING_KEY", "must be a base64-encoded 32-byte Ed25519 seed"),
    );
  }
  expect(() => loadConfig({ ...base, NODE_ENV: "production" })).toThrow(ConfigError);
  expect(() => loadConfig({ ...base, NODE_ENV: "production" })).toThrow(/SERVER_SIGNING_KEY is required in production/);
  expect(
    loadConfig({ ...base, NODE_ENV: "production", SERVER_SIGNING_KEY: seed.toString("base64") }).serverSigningKey,
  ).toHaveLength(32);
});

test("bad values stop start-up with the variable named", () => {
  expect(() => loadConfig({ ...base, INVITE_TTL: "soon" })).toThrow(/^INVITE_TTL must be a duration/);
  expect(() => loadConfig({ ...base, INVITE_TTL: "1s" })).toThrow(/^INVITE_TTL must be between/);
  expect(() => loadConfig({ INTERNAL_AUTH_SECRET: base.INTERNAL_AUTH_SECRET })).toThrow(
    /^CONNECTION_DATABASE_URL is required/,
  );
});

test("signed payloads are the documented bytes, and refuse anything but pairIDs", () => {
  const a = "A".repeat(40);
  const b = "b0".repeat(20);
  expect(new TextDecoder().decode(initiatePayload(a, b))).toBe(`see-me/connection/v1/initiate\n${a}\n${b}`);
  const key = new Uint8Array(32).fill(7);
  const invite = invitePayload(a, b, key);
  expect(new TextDecoder().decode(invite.subarray(0, -33))).toBe(`see-me/connection/v1/invite\n${a}\n${b}`);
  expect([...invite.subarray(-33)]).toEqual([0x0a, ...key]);
  expect(INITIATE_PREFIX).toBe("see-me/connection/v1/initiate\n");
  expect(() => initiatePayload(`${a}\n`, b)).toThrow(RangeError);
  expect(isPairId("z".repeat(40))).toBe(true);
  expect(isPairId("z".repeat(39))).toBe(false);
});

test("the signer is RFC 8032 Ed25519 (test vector 1)", () => {
  const seed = Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex");
  const signer = createSigner(seed);
  expect(Buffer.from(signer.publicKey).toString("hex")).toBe(
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  );
  const signature = signer.sign(new Uint8Array());
  expect(Buffer.from(signature).toString("hex")).toBe(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  );
  expect(signer.verify(new Uint8Array(), signature)).toBe(true);
  expect(signer.verify(new Uint8Array([1]), signature)).toBe(false);
});
