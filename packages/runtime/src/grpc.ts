import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import {
  Code, ConnectError, createHandlerContext,
  type CallOptions, type Client, type HandlerContext, type ServiceImpl,
} from "@connectrpc/connect";
import type { Logger } from "./logger.js";
import type { Guard } from "./caller.js";
import type { Metrics } from "./metrics.js";
import { isDependencyOutage } from "./outage.js";

/**
 * protobuf-es v2 generates descriptors, not grpc-js definitions. This module is
 * the one generic bridge: it serves any `ServiceImpl` (Connect's handler shape,
 * so the same code could run under Connect) on a grpc-js server, and builds a
 * typed Connect-style client over a grpc-js channel. Errors are ConnectErrors on
 * both sides; their codes are the gRPC status codes.
 */
export interface ServiceRegistration {
  service: DescService;
  impl: Partial<ServiceImpl<DescService>>;
  /** Runs before every method; throws ConnectError to refuse the call. */
  guard: Guard;
}

/** Pairs a descriptor with its implementation, type-checked against each other. */
export function registration<D extends DescService>(service: D, impl: ServiceImpl<D>, guard: Guard): ServiceRegistration {
  return { service, impl: impl as unknown as Partial<ServiceImpl<DescService>>, guard };
}

const serializer = (schema: DescMessage) => (message: unknown) =>
  Buffer.from(toBinary(schema, create(schema, message as never)));
const deserializer = (schema: DescMessage) => (bytes: Buffer) => fromBinary(schema, bytes);
/** A request body that is not valid protobuf: the client's fault (InvalidArgument), not grpc-js's INTERNAL. */
class Malformed {
  constructor(readonly reason: string) {}
}
const serverDeserializer = (schema: DescMessage) => (bytes: Buffer) => {
  try {
    return fromBinary(schema, bytes);
  } catch (error) {
    return new Malformed(error instanceof Error ? error.message : String(error));
  }
};
function rejectMalformed(request: unknown): void {
  if (request instanceof Malformed) throw new ConnectError(`malformed request: ${request.reason}`, Code.InvalidArgument);
}

export function methodPath(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

export interface AdapterOptions {
  log: Logger;
  metrics?: Metrics;
  /** Aborted at shutdown so long-lived streams end and the server can drain. */
  shutdownSignal: AbortSignal;
}

// A plain record: createHandlerContext builds the one Headers object from it.
function headersOf(metadata: grpc.Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === "string") headers[key] = value;
  }
  return headers;
}

// The reason a finished call's signal is aborted with. Without one, every call
// would build a DOMException (and capture its stack) just to end its signal.
const CALL_ENDED = new ConnectError("call ended", Code.Canceled);

function toServiceError(error: unknown, log: Logger, path: string): Partial<grpc.StatusObject> {
  if (error instanceof ConnectError) return { code: error.code as number, details: error.rawMessage };
  if (isDependencyOutage(error)) {
    // Retryable and not the caller's fault; the driver's message names hosts and ports, so it stays in the log.
    log.warn({ err: error, path }, "dependency unavailable");
    return { code: grpc.status.UNAVAILABLE, details: "a dependency is unavailable; retry later" };
  }
  // Unexpected failures are logged with their stack but never shown to callers.
  log.error({ err: error, path }, "unhandled error in RPC handler");
  return { code: grpc.status.INTERNAL, details: "internal error" };
}

function contextFor(method: DescMethod, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, shutdownSignal: AbortSignal): ReturnType<typeof createHandlerContext> {
  const requestAbort = new AbortController();
  call.on("cancelled", () => requestAbort.abort(new ConnectError("call cancelled by client", Code.Canceled)));
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  const timeoutMs = Number.isFinite(deadlineMs) && deadlineMs > 0 ? Math.max(1, deadlineMs - Date.now()) : undefined;
  return createHandlerContext({
    service: method.parent,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: methodPath(method),
    timeoutMs,
    shutdownSignal,
    requestSignal: requestAbort.signal,
    requestHeader: headersOf(call.metadata),
  });
}

/** Adds every registration to a grpc-js server. */
export function addServices(server: grpc.Server, registrations: ServiceRegistration[], options: AdapterOptions): void {
  for (const { service, impl, guard } of registrations) {
    const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const method of service.methods) {
      const path = methodPath(method);
      definition[method.name] = {
        path,
        requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
        responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
        requestSerialize: serializer(method.input),
        requestDeserialize: serverDeserializer(method.input),
        responseSerialize: serializer(method.output),
        responseDeserialize: deserializer(method.output),
        originalName: method.localName,
      };
      const fn = impl[method.localName] as ((req: unknown, ctx: HandlerContext) => unknown) | undefined;
      const observe = (code: number, started: number) => {
        options.metrics?.rpcHandled.inc({ service: service.typeName, method: method.name, code: grpc.status[code] ?? String(code) });
        options.metrics?.rpcSeconds.observe({ service: service.typeName, method: method.name }, (performance.now() - started) / 1000);
      };
      if (method.methodKind === "unary") {
        handlers[method.name] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
          const started = performance.now();
          const ctx = contextFor(method, call, options.shutdownSignal);
          Promise.resolve()
            .then(() => {
              if (!fn) throw new ConnectError(`${path} is not implemented`, Code.Unimplemented);
              guard(ctx);
              rejectMalformed(call.request);
              return fn(call.request, ctx);
            })
            .then(
              (response) => {
                observe(grpc.status.OK, started);
                callback(null, response);
              },
              (error: unknown) => {
                const status = toServiceError(error, options.log, path);
                observe(status.code!, started);
                callback(status);
              },
            )
            // Ends the call's signal and clears its deadline timer, as Connect's own server does.
            .finally(() => ctx.abort(CALL_ENDED));
        };
      } else if (method.methodKind === "server_streaming") {
        handlers[method.name] = async (call: grpc.ServerWritableStream<unknown, unknown>) => {
          const started = performance.now();
          const ctx = contextFor(method, call, options.shutdownSignal);
          try {
            if (!fn) throw new ConnectError(`${path} is not implemented`, Code.Unimplemented);
            guard(ctx);
            rejectMalformed(call.request);
            for await (const message of fn(call.request, ctx) as AsyncIterable<unknown>) {
              if (call.cancelled) break;
              // Respect backpressure so a slow client cannot make us buffer without bound.
              if (!call.write(message)) await once(call, "drain", { signal: ctx.signal }).catch(() => undefined);
            }
            observe(grpc.status.OK, started);
            call.end();
          } catch (error) {
            const status = toServiceError(error, options.log, path);
            observe(status.code!, started);
            if (!call.cancelled) call.emit("error", status);
          } finally {
            ctx.abort(CALL_ENDED);
          }
        };
      } else {
        throw new Error(`${path}: only unary and server-streaming methods are supported`);
      }
    }
    server.addService(definition as grpc.ServiceDefinition, handlers);
  }
}

export interface GrpcClientOptions {
  /** Metadata added to every call (e.g. the service credential). */
  headers?: () => Record<string, string>;
  /** Deadline for calls that set none; streams get none by default. */
  defaultTimeoutMs?: number;
}

/** Reads a ServiceError from grpc-js back into the ConnectError it started as. */
function toConnectError(error: grpc.ServiceError): ConnectError {
  return new ConnectError(error.details || error.message, (error.code as number) as Code);
}

function metadataFor(options: GrpcClientOptions, call: CallOptions | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (options.headers) for (const [key, value] of Object.entries(options.headers())) metadata.set(key, value);
  const headers = call?.headers;
  if (headers === undefined) return metadata;
  // Callers pass plain records (the gateway on every call): no Headers object needed for those.
  if (headers instanceof Headers || Array.isArray(headers)) new Headers(headers).forEach((value, key) => metadata.set(key, value));
  else for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return metadata;
}

/** A typed client for `service` over one grpc-js channel to `address` (host:port). */
export function createGrpcClient<D extends DescService>(service: D, address: string, options: GrpcClientOptions = {}): Client<D> & { close(): void } {
  const channel = new grpc.Client(address, grpc.credentials.createInsecure(), {
    "grpc.keepalive_time_ms": 30_000,
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
  });
  const client: Record<string, unknown> = { close: () => channel.close() };
  for (const method of service.methods) {
    const path = methodPath(method);
    const deadlineOf = (call: CallOptions | undefined, fallback: number | undefined) => {
      const ms = call?.timeoutMs ?? fallback;
      return ms ? { deadline: Date.now() + ms } : {};
    };
    if (method.methodKind === "unary") {
      client[method.localName] = (request: unknown, call?: CallOptions) =>
        new Promise((resolve, reject) => {
          const signal = call?.signal;
          const abort = () => pending.cancel();
          const pending = channel.makeUnaryRequest(
            path, serializer(method.input), deserializer(method.output), request,
            metadataFor(options, call), deadlineOf(call, options.defaultTimeoutMs ?? 10_000),
            (error, response) => {
              // The caller's signal usually outlives the call (the gateway's ends with its own call).
              signal?.removeEventListener("abort", abort);
              if (error) reject(toConnectError(error));
              else resolve(response);
            },
          );
          signal?.addEventListener("abort", abort, { once: true });
        });
    } else if (method.methodKind === "server_streaming") {
      client[method.localName] = (request: unknown, call?: CallOptions) =>
        (async function* () {
          const stream = channel.makeServerStreamRequest(
            path, serializer(method.input), deserializer(method.output), request,
            metadataFor(options, call), deadlineOf(call, undefined),
          );
          const abort = () => stream.cancel();
          call?.signal?.addEventListener("abort", abort, { once: true });
          try {
            for await (const message of stream) yield message;
          } catch (error) {
            throw toConnectError(error as grpc.ServiceError);
          } finally {
            call?.signal?.removeEventListener("abort", abort);
            stream.cancel();
          }
        })();
    }
  }
  return client as Client<D> & { close(): void };
}
