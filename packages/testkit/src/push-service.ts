import { createDecipheriv, createECDH, createHmac, createPublicKey, randomBytes, verify } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A Web Push service of our own on loopback, for tests (the real ones are out
 * of reach): it accepts a push only if its VAPID JWT (RFC 8292) verifies —
 * ES256 by the advertised key, `aud` = this service's origin, `exp` within
 * 24 h, `sub` present — and decrypts the RFC 8291 aes128gcm body with the
 * subscriber's private key and auth secret, as a browser would.
 */
export interface PushSubscriptionKeys {
  endpoint: string;
  /** Browser public key, uncompressed P-256, base64url. */
  p256dh: string;
  /** 16-byte auth secret, base64url. */
  auth: string;
}

export interface ReceivedPush {
  /** The subscription's id (the endpoint's last path segment). */
  subscription: string;
  /** The decrypted payload. */
  payload: string;
  urgency: string | undefined;
  ttl: string | undefined;
  topic: string | undefined;
  /** The verified JWT claims. */
  claims: { aud: string; exp: number; sub: string };
  /** The VAPID public key that signed it (base64url). */
  vapidKey: string;
  /** Raw size of the encrypted body, bytes. */
  bodyBytes: number;
}

export interface TestPushService {
  origin: string;
  /** A browser-like subscription: fresh P-256 key pair and auth secret. */
  subscribe(): PushSubscriptionKeys;
  /** Pushes accepted (verified and decrypted), in arrival order. */
  received: ReceivedPush[];
  /** Requests refused (bad JWT, undecryptable body, unknown subscription), with why. */
  refused: Array<{ subscription: string; reason: string }>;
  /** From now on, answer pushes to this subscription with `status` (e.g. 410 Gone). */
  answer(endpoint: string, status: number): void;
  /** Accepted pushes for one subscription. */
  pushesTo(endpoint: string): ReceivedPush[];
  close(): Promise<void>;
}

interface Subscriber {
  ecdh: ReturnType<typeof createECDH>;
  auth: Buffer;
  status: number;
}

const hmac = (key: Buffer, data: Buffer) => createHmac("sha256", key).update(data).digest();

/** RFC 8291 §3.4 + RFC 8188: decrypts one aes128gcm body for the subscriber. */
export function decryptAes128gcm(body: Buffer, ecdh: ReturnType<typeof createECDH>, authSecret: Buffer): string {
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body[20];
  const asPublic = body.subarray(21, 21 + idLength);
  const records = body.subarray(21 + idLength);
  if (idLength !== 65) throw new Error(`keyid must be the 65-byte sender key, got ${idLength}`);
  if (records.length > recordSize) throw new Error("more than one record");
  const uaPublic = ecdh.getPublicKey();
  const ecdhSecret = ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), uaPublic, asPublic]);
  const ikm = hmac(hmac(authSecret, ecdhSecret), Buffer.concat([keyInfo, Buffer.from([1])]));
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from("Content-Encoding: aes128gcm\0\x01", "binary")).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from("Content-Encoding: nonce\0\x01", "binary")).subarray(0, 12);
  const decipher = createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(records.subarray(records.length - 16));
  const plain = Buffer.concat([decipher.update(records.subarray(0, records.length - 16)), decipher.final()]);
  // Last record: content, then the delimiter 0x02, then zero padding.
  let end = plain.length - 1;
  while (end >= 0 && plain[end] === 0) end--;
  if (plain[end] !== 2) throw new Error("missing last-record delimiter");
  return plain.subarray(0, end).toString("utf8");
}

/** RFC 8292 §2-3: `vapid t=<jwt>, k=<key>`, ES256 over header.claims by k. */
function verifyVapid(
  authorization: string | undefined,
  origin: string,
  nowSeconds: number,
): { claims: ReceivedPush["claims"]; key: string } {
  const match = /^vapid t=([A-Za-z0-9_.-]+),\s*k=([A-Za-z0-9_-]+)$/.exec(authorization ?? "");
  if (!match) throw new Error("Authorization is not 'vapid t=…, k=…'");
  const [, jwt, key] = match;
  const [header, payload, signature] = jwt.split(".");
  if (JSON.parse(Buffer.from(header, "base64url").toString()).alg !== "ES256") throw new Error("JWT alg is not ES256");
  const point = Buffer.from(key, "base64url");
  if (point.length !== 65 || point[0] !== 4) throw new Error("k is not an uncompressed P-256 point");
  const publicKey = createPublicKey({
    key: {
      kty: "EC",
      crv: "P-256",
      x: point.subarray(1, 33).toString("base64url"),
      y: point.subarray(33).toString("base64url"),
    },
    format: "jwk",
  });
  const signed = Buffer.from(`${header}.${payload}`);
  if (!verify("sha256", signed, { key: publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(signature, "base64url"))) {
    throw new Error("JWT signature does not verify");
  }
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as ReceivedPush["claims"];
  if (claims.aud !== origin) throw new Error(`aud ${claims.aud} is not ${origin}`);
  if (typeof claims.exp !== "number" || claims.exp <= nowSeconds || claims.exp > nowSeconds + 24 * 3600)
    throw new Error("exp not within 24 h");
  if (typeof claims.sub !== "string" || !/^(mailto:|https:)/.test(claims.sub))
    throw new Error("sub is not a mailto: or https: contact");
  return { claims, key };
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function startTestPushService(): Promise<TestPushService> {
  const subscribers = new Map<string, Subscriber>();
  const received: ReceivedPush[] = [];
  const refused: TestPushService["refused"] = [];
  let origin = "";
  const server: Server = createServer((request, response) => {
    void (async () => {
      const id = (request.url ?? "").split("/").pop() ?? "";
      const body = await readBody(request);
      const subscriber = subscribers.get(id);
      try {
        if (request.method !== "POST" || !subscriber) throw new Error("unknown subscription");
        if (request.headers["content-encoding"] !== "aes128gcm") throw new Error("Content-Encoding is not aes128gcm");
        if (request.headers.ttl === undefined) throw new Error("TTL header missing");
        const { claims, key } = verifyVapid(request.headers.authorization, origin, Math.floor(Date.now() / 1000));
        const payload = decryptAes128gcm(body, subscriber.ecdh, subscriber.auth);
        if (subscriber.status < 300) {
          received.push({
            subscription: id,
            payload,
            claims,
            vapidKey: key,
            bodyBytes: body.length,
            urgency: request.headers.urgency as string | undefined,
            ttl: request.headers.ttl as string | undefined,
            topic: request.headers.topic as string | undefined,
          });
        }
        response.writeHead(subscriber.status).end();
      } catch (error) {
        refused.push({ subscription: id, reason: error instanceof Error ? error.message : String(error) });
        response.writeHead(subscriber ? 400 : 404).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const idOf = (endpoint: string) => endpoint.split("/").pop() ?? "";
  return {
    origin,
    received,
    refused,
    subscribe() {
      const id = randomBytes(24).toString("base64url");
      const ecdh = createECDH("prime256v1");
      ecdh.generateKeys();
      const auth = randomBytes(16);
      subscribers.set(id, { ecdh, auth, status: 201 });
      return {
        endpoint: `${origin}/push/v1/${id}`,
        p256dh: ecdh.getPublicKey().toString("base64url"),
        auth: auth.toString("base64url"),
      };
    },
    answer(endpoint, status) {
      subscribers.get(idOf(endpoint))!.status = status;
    },
    pushesTo: (endpoint) => received.filter((push) => push.subscription === idOf(endpoint)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
