import http2 from "node:http2";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { ConnectionService } from "@seeme/contracts/connection";
import { GatewayService } from "@seeme/contracts/gateway";
import { Health } from "@seeme/contracts/health";
import { IdentityService } from "@seeme/contracts/identity";
import { LocationService } from "@seeme/contracts/location";
import { rawCall, WIRE_PROTOCOLS, type RawResult } from "@seeme/testkit/raw-rpc";
import { fuzzCase, seeded, type CaseKind, type Random } from "./cases.js";
export { fuzzCase, seeded };

/**
 * Sends `requests` generated requests across every public RPC and protocol to
 * a running gateway and counts the codes. A client's garbage must never be
 * answered as the server's fault: Internal, Unknown, DataLoss, an HTTP 5xx
 * without a status, a unary call that never answers, or a dropped connection
 * are failures.
 */
export const PUBLIC_SERVICES: DescService[] = [
  GatewayService,
  IdentityService,
  ConnectionService,
  LocationService,
  Health,
];
const FAILING = new Set(["Internal", "Unknown", "DataLoss"]);

export interface FuzzOptions {
  gatewayUrl: string;
  requests: number;
  concurrency: number;
  seed: number;
  /** Valid session tokens; about half the calls to authenticated services carry one. */
  sessionTokens: string[];
  /** Called every 1,000 requests. */
  onProgress?: (done: number) => void;
}

export interface FuzzFailure {
  method: string;
  protocol: string;
  kind: CaseKind;
  code: string;
  message: string;
}

export interface FuzzReport {
  requests: number;
  elapsedMs: number;
  byCode: Record<string, number>;
  byKind: Record<string, number>;
  methods: number;
  /** Answered as a server fault (Internal, Unknown, bare 5xx) or dropped connections. */
  failures: number;
  /** Unary calls with no answer within 15 s (see docs/reliability.md, "open findings"). */
  unanswered: number;
  /** Slowest answer (ms) per "code protocol". */
  slowest: Record<string, number>;
  /** The first few failures, for the log. */
  examples: FuzzFailure[];
}

function authorization(random: Random, method: DescMethod, tokens: string[]): Record<string, string> {
  if (method.parent.typeName === GatewayService.typeName || method.parent.typeName === Health.typeName) return {};
  const roll = random();
  // DeleteAccount needs nothing but a session: a valid token would just end the run's accounts.
  if (roll < 0.5 && tokens.length && method.name !== "DeleteAccount")
    return { authorization: `Bearer ${tokens[Math.floor(random() * tokens.length)]}` };
  if (roll < 0.7) return {};
  if (roll < 0.85) return { authorization: `Bearer ${"A".repeat(43)}` };
  return {
    authorization: ["Basic abc", "Bearer", "Bearer !!!!!!!!!!!!!!!!!!!!", `Bearer ${"x".repeat(600)}`][
      Math.floor(random() * 4)
    ],
  };
}

/** A few shared HTTP/2 sessions for gRPC cases, replaced when the server closes one. */
class SessionPool {
  private readonly sessions: http2.ClientHttp2Session[] = [];

  constructor(
    private readonly url: string,
    private readonly size: number,
  ) {}

  get(index: number): http2.ClientHttp2Session {
    const slot = index % this.size;
    let session = this.sessions[slot];
    if (!session || session.closed || session.destroyed) {
      session = http2.connect(this.url);
      session.on("error", () => undefined);
      this.sessions[slot] = session;
    }
    return session;
  }

  close(): void {
    for (const session of this.sessions) session?.destroy();
  }
}

export function isFailure(result: RawResult): boolean {
  if (FAILING.has(result.code)) return true;
  // A 5xx without a status, or no HTTP answer at all.
  return /^HTTP_(5\d\d|0)$/.test(result.code);
}

/** A unary call that got no answer in time (an open stream is an accepted stream). */
export function isUnanswered(result: RawResult, stream: boolean): boolean {
  return result.code === "OPEN" && !stream;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const methods = PUBLIC_SERVICES.flatMap((service) => service.methods);
  const pool = new SessionPool(options.gatewayUrl, 4);
  const report: FuzzReport = {
    requests: 0,
    elapsedMs: 0,
    byCode: {},
    byKind: {},
    methods: methods.length,
    failures: 0,
    unanswered: 0,
    examples: [],
    slowest: {},
  };
  const started = Date.now();
  let issued = 0;

  const one = async (index: number) => {
    // One generator per request: a case depends on (seed, index) only, so FUZZ_SEED + the index replays it.
    const random = seeded(options.seed * 1_000_003 + index);
    const method = methods[index % methods.length];
    const protocol = WIRE_PROTOCOLS[Math.floor(index / methods.length) % WIRE_PROTOCOLS.length];
    const stream = method.methodKind === "server_streaming";
    const fuzz = fuzzCase(random, method, protocol);
    const path = `/${method.parent.typeName}/${method.name}`;
    let result: RawResult;
    const callStarted = Date.now();
    try {
      result = await rawCall(options.gatewayUrl, path, protocol, fuzz.body, {
        stream,
        contentType: fuzz.contentType,
        headers: authorization(random, method, options.sessionTokens),
        // A unary call gets 15 s (the machine may be loaded); a stream open after 200 ms was accepted.
        waitMs: stream ? 200 : 15_000,
        session: protocol === "grpc" ? pool.get(index) : undefined,
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const message = `${error instanceof Error ? error.message : String(error)}${cause ? ` (${cause.code ?? ""} ${cause.message ?? ""})` : ""}`;
      result = { code: "TransportError", message, httpStatus: 0 };
    }
    report.requests += 1;
    const took = Date.now() - callStarted;
    const slow = report.slowest[`${result.code} ${protocol}`] ?? 0;
    if (took > slow) report.slowest[`${result.code} ${protocol}`] = took;
    report.byCode[result.code] = (report.byCode[result.code] ?? 0) + 1;
    report.byKind[fuzz.kind] = (report.byKind[fuzz.kind] ?? 0) + 1;
    const unanswered = isUnanswered(result, stream);
    if (unanswered) report.unanswered += 1;
    if (isFailure(result) || result.code === "TransportError" || unanswered) {
      if (!unanswered) report.failures += 1;
      if (report.examples.length < 20) {
        report.examples.push({
          method: path,
          protocol,
          kind: fuzz.kind,
          code: result.code,
          message: `#${index}: ${result.message.slice(0, 200)} after ${took} ms`,
        });
      }
    }
    if (report.requests % 1000 === 0) options.onProgress?.(report.requests);
  };

  const worker = async () => {
    while (issued < options.requests) await one(issued++);
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    pool.close();
  }
  report.elapsedMs = Date.now() - started;
  return report;
}
