import http2 from "node:http2";
import { Code } from "@connectrpc/connect";

/**
 * Sends arbitrary bytes to an RPC path the way each wire protocol frames them,
 * and reads back the status the server gave, whatever the body was. Generated
 * clients cannot send a malformed message; fuzzing and error-code tests must.
 */
export type WireProtocol = "connect-proto" | "connect-json" | "grpc-web" | "grpc";
export const WIRE_PROTOCOLS: WireProtocol[] = ["connect-proto", "connect-json", "grpc-web", "grpc"];

export interface RawResult {
  /** Code name as in Connect's `Code` enum ("InvalidArgument"), "OK", "OPEN" (stream still open at `waitMs`) or "HTTP_<status>". */
  code: string;
  message: string;
  httpStatus: number;
}

export interface RawCallOptions {
  /** The method streams its response (Subscribe, Health/Watch). */
  stream?: boolean;
  headers?: Record<string, string>;
  /** Overrides the protocol's content type (wrong-content-type cases). */
  contentType?: string;
  /** A stream still open after this long counts as accepted ("OPEN"). */
  waitMs?: number;
  /** An open HTTP/2 session to reuse for "grpc". */
  session?: http2.ClientHttp2Session;
}

export function envelope(message: Uint8Array, flags = 0): Uint8Array {
  const framed = new Uint8Array(5 + message.length);
  framed[0] = flags;
  new DataView(framed.buffer).setUint32(1, message.length);
  framed.set(message, 5);
  return framed;
}

function codeName(code: number | string | undefined): string {
  if (code === undefined || code === "") return "Unknown";
  if (typeof code === "number" || /^\d+$/.test(code)) {
    const n = Number(code);
    return n === 0 ? "OK" : (Code[n] ?? `Code${n}`);
  }
  // Connect's JSON names: "invalid_argument" → "InvalidArgument".
  return code
    .split("_")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join("");
}

function frames(bytes: Uint8Array): Array<{ flags: number; data: Uint8Array }> {
  const out: Array<{ flags: number; data: Uint8Array }> = [];
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const length = new DataView(bytes.buffer, bytes.byteOffset + offset + 1, 4).getUint32(0);
    out.push({ flags: bytes[offset], data: bytes.subarray(offset + 5, offset + 5 + length) });
    offset += 5 + length;
  }
  return out;
}

function contentTypeOf(protocol: WireProtocol, stream: boolean): string {
  switch (protocol) {
    case "connect-proto":
      return stream ? "application/connect+proto" : "application/proto";
    case "connect-json":
      return stream ? "application/connect+json" : "application/json";
    case "grpc-web":
      return "application/grpc-web+proto";
    case "grpc":
      return "application/grpc";
  }
}

/** Frames `message` for the protocol: bare for Connect unary, enveloped otherwise. */
export function frameFor(protocol: WireProtocol, stream: boolean, message: Uint8Array): Uint8Array {
  return protocol.startsWith("connect") && !stream ? message : envelope(message);
}

async function readBody(
  body: ReadableStream<Uint8Array> | null,
  waitMs: number,
): Promise<{ bytes: Uint8Array; open: boolean }> {
  if (!body) return { bytes: new Uint8Array(), open: false };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  const deadline = Date.now() + waitMs;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<"timeout">(
      (resolve) => (timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()))),
    );
    const next = await Promise.race([reader.read(), timeout]);
    clearTimeout(timer);
    if (next === "timeout") {
      await reader.cancel().catch(() => undefined);
      return { bytes: Buffer.concat(chunks), open: true };
    }
    if (next.done) return { bytes: Buffer.concat(chunks), open: false };
    chunks.push(next.value);
  }
}

interface Answer {
  httpStatus: number;
  header: (name: string) => string | undefined;
  /** HTTP trailers, when the transport exposes them (HTTP/2). */
  trailer?: (name: string) => string | undefined;
  bytes: Uint8Array;
  /** Still streaming when we stopped reading. */
  open: boolean;
}

const text = (data: Uint8Array) => Buffer.from(data).toString("utf8");

/** Reads the status out of an answer in whichever protocol the server chose (the one the request's content type named). */
function interpret(answer: Answer): RawResult {
  const { httpStatus, header, bytes, open } = answer;
  // A stream the server accepted and has not answered yet (Connect sends headers with the first message).
  if (open && httpStatus === 0) return { code: "OPEN", message: "", httpStatus };
  const answered = header("content-type") ?? "";
  if (/^application\/grpc(\+|;|$)/.test(answered)) {
    const status = answer.trailer?.("grpc-status") ?? header("grpc-status");
    // gRPC over HTTP/1.1 keeps its status in trailers, which fetch cannot read.
    if (status === undefined)
      return { code: open ? "OPEN" : answer.trailer ? "Unknown" : "GrpcTrailers", message: "", httpStatus };
    return {
      code: codeName(status),
      message: decodeURIComponent(answer.trailer?.("grpc-message") ?? header("grpc-message") ?? ""),
      httpStatus,
    };
  }
  if (answered.startsWith("application/grpc-web")) {
    const trailer = frames(bytes).find((frame) => frame.flags & 0x80);
    const source = trailer ? text(trailer.data) : "";
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "mi").exec(source)?.[1]?.trim();
    const status = field("grpc-status") ?? header("grpc-status");
    if (status === undefined) return { code: open ? "OPEN" : `HTTP_${httpStatus}`, message: "", httpStatus };
    return {
      code: codeName(status),
      message: decodeURIComponent(field("grpc-message") ?? header("grpc-message") ?? ""),
      httpStatus,
    };
  }
  if (answered.startsWith("application/connect+")) {
    const end = frames(bytes).find((frame) => frame.flags & 0x02);
    if (!end) return { code: open ? "OPEN" : "Unknown", message: "", httpStatus };
    const parsed = JSON.parse(text(end.data)) as { error?: { code?: string; message?: string } };
    return parsed.error
      ? { code: codeName(parsed.error.code), message: parsed.error.message ?? "", httpStatus }
      : { code: "OK", message: "", httpStatus };
  }
  if (httpStatus === 200) return { code: "OK", message: "", httpStatus };
  try {
    const parsed = JSON.parse(text(bytes)) as { code?: string; message?: string };
    return { code: codeName(parsed.code), message: parsed.message ?? "", httpStatus };
  } catch {
    return { code: `HTTP_${httpStatus}`, message: text(bytes).slice(0, 200), httpStatus };
  }
}

async function overHttp1(
  baseUrl: string,
  path: string,
  protocol: WireProtocol,
  body: Uint8Array,
  options: RawCallOptions,
): Promise<RawResult> {
  const stream = options.stream ?? false;
  const controller = new AbortController();
  const waitMs = options.waitMs ?? 5_000;
  const headersTimer = setTimeout(() => controller.abort(), waitMs);
  let response: Response;
  try {
    response = await fetch(baseUrl + path, {
      method: "POST",
      headers: {
        "content-type": options.contentType ?? contentTypeOf(protocol, stream),
        "connect-protocol-version": "1",
        ...options.headers,
      },
      body: body as Uint8Array<ArrayBuffer>,
      signal: controller.signal,
    });
  } catch (error) {
    if (controller.signal.aborted) return { code: "OPEN", message: "", httpStatus: 0 };
    throw error;
  } finally {
    clearTimeout(headersTimer);
  }
  const { bytes, open } = await readBody(response.body, waitMs);
  controller.abort();
  return interpret({
    httpStatus: response.status,
    header: (name) => response.headers.get(name) ?? undefined,
    bytes,
    open,
  });
}

async function overHttp2(baseUrl: string, path: string, body: Uint8Array, options: RawCallOptions): Promise<RawResult> {
  const session = options.session ?? http2.connect(baseUrl).on("error", () => undefined);
  try {
    return await new Promise<RawResult>((resolve, reject) => {
      const request = session.request({
        ":method": "POST",
        ":path": path,
        "content-type": options.contentType ?? "application/grpc",
        te: "trailers",
        "connect-protocol-version": "1",
        ...options.headers,
      });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      let settled = false;
      const field = (fields: http2.IncomingHttpHeaders | undefined, name: string) =>
        fields?.[name] === undefined ? undefined : String(fields[name]);
      const finish = (open: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!request.closed) request.close(http2.constants.NGHTTP2_CANCEL);
        resolve(
          interpret({
            httpStatus: Number(headers[":status"] ?? 0),
            header: (name) => field(headers, name),
            trailer: (name) => field(trailers, name),
            bytes: Buffer.concat(chunks),
            open,
          }),
        );
      };
      const timer = setTimeout(() => finish(true), options.waitMs ?? 5_000);
      request.on("response", (fields) => {
        headers = fields;
        // Trailers-only: the status came with the headers.
        if (fields["grpc-status"] !== undefined) finish(false);
      });
      request.on("trailers", (fields) => {
        trailers = fields;
        finish(false);
      });
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => finish(false));
      request.on("error", (error) => (settled ? undefined : reject(error)));
      request.end(body);
    });
  } finally {
    if (!options.session) session.close();
  }
}

/** Calls `path` with `body` already framed for `protocol` (see frameFor). */
export function rawCall(
  baseUrl: string,
  path: string,
  protocol: WireProtocol,
  body: Uint8Array,
  options: RawCallOptions = {},
): Promise<RawResult> {
  // gRPC needs HTTP/2 (its status travels in trailers); so does any request labelled as gRPC.
  const h2 = protocol === "grpc" || /^application\/grpc(\+|;|$)/.test(options.contentType ?? "");
  return h2 ? overHttp2(baseUrl, path, body, options) : overHttp1(baseUrl, path, protocol, body, options);
}
