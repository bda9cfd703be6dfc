import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { fromBinary, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Admission } from "./admission.js";
import type { Guard } from "./caller.js";
import { deserializer, methodPath, serializer } from "./grpc-codec.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { isDependencyOutage } from "./outage.js";
import { withServerSpan } from "./tracing.js";

/**
 * The server half of the grpc-js bridge: serves any `ServiceImpl` (Connect's
 * handler shape, so the same code could run under Connect) on a grpc-js server.
 * Handlers throw ConnectErrors; their codes are the gRPC status codes.
 */
export interface ServiceRegistration {
  service: DescService;
  impl: Partial<ServiceImpl<DescService>>;
  /** Runs before every method; throws ConnectError to refuse the call. */
  guard: Guard;
}

/** Pairs a descriptor with its implementation, type-checked against each other. */
export function registration<D extends DescService>(
  service: D,
  impl: ServiceImpl<D>,
  guard: Guard,
): ServiceRegistration {
  return { service, impl: impl as unknown as Partial<ServiceImpl<DescService>>, guard };
}

export interface AdapterOptions {
  log: Logger;
  metrics?: Metrics;
  /** Aborted at shutdown so long-lived streams end and the server can drain. */
  shutdownSignal: AbortSignal;
  /** Bounds the unary calls worked on at once; streams (Subscribe) are long-lived and bounded per account instead. */
  admission?: Admission;
}

type ServerCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;
type Handler = (req: unknown, ctx: HandlerContext) => unknown;

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
// grpc-js reports every call's stream closing as "cancelled", even after the call has answered: a
// shared reason too, so a finished call builds no error (capturing a stack) for nobody to read.
const CANCELLED_BY_CLIENT = new ConnectError("call cancelled by client", Code.Canceled);

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
  if (request instanceof Malformed)
    throw new ConnectError(`malformed request: ${request.reason}`, Code.InvalidArgument);
}

function toServiceError(error: unknown, log: Logger, path: string): Partial<grpc.StatusObject> & { code: number } {
  if (error instanceof ConnectError) {
    // Error metadata (e.g. admission's retry-after-ms) travels as trailers, as Connect's own servers send it.
    let metadata: grpc.Metadata | undefined;
    error.metadata.forEach((value, key) => {
      metadata ??= new grpc.Metadata();
      metadata.set(key, value);
    });
    return { code: error.code as number, details: error.rawMessage, ...(metadata ? { metadata } : {}) };
  }
  if (isDependencyOutage(error)) {
    // Retryable and not the caller's fault; the driver's message names hosts and ports, so it stays in the log.
    log.warn({ err: error, path }, "dependency unavailable");
    return { code: grpc.status.UNAVAILABLE, details: "a dependency is unavailable; retry later" };
  }
  // Unexpected failures are logged with their stack but never shown to callers.
  log.error({ err: error, path }, "unhandled error in RPC handler");
  return { code: grpc.status.INTERNAL, details: "internal error" };
}

function contextFor(
  method: DescMethod,
  call: ServerCall,
  headers: Record<string, string>,
  shutdownSignal: AbortSignal,
) {
  const requestAbort = new AbortController();
  call.on("cancelled", () => requestAbort.abort(CANCELLED_BY_CLIENT));
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
    requestHeader: headers,
  });
}

/** How one kind of method turns the handler's output into the response, and reports success or failure. */
interface CallShape<R> {
  produce(output: unknown, ctx: HandlerContext): Promise<R>;
  succeed(result: R): void;
  fail(status: Partial<grpc.StatusObject>): void;
}

/**
 * The one call wrapper, for unary and streaming methods alike: handler context,
 * "not implemented", the guard, error mapping, metrics, the trace span, and
 * ending the call's signal.
 */
function serveCall<R>(
  target: { method: DescMethod; path: string; fn: Handler | undefined; guard: Guard; options: AdapterOptions },
  call: ServerCall,
  shape: CallShape<R>,
): Promise<void> {
  const { method, path, fn, guard, options } = target;
  const started = performance.now();
  const observe = (code: number) => {
    const labels = { service: method.parent.typeName, method: method.name };
    options.metrics?.rpcHandled.inc({ ...labels, code: grpc.status[code] ?? String(code) });
    options.metrics?.rpcSeconds.observe(labels, (performance.now() - started) / 1000);
  };
  const headers = headersOf(call.metadata);
  return withServerSpan(path, headers, async (span) => {
    const ctx = contextFor(method, call, headers, options.shutdownSignal);
    let release: (() => void) | undefined;
    try {
      if (!fn) throw new ConnectError(`${path} is not implemented`, Code.Unimplemented);
      // Before the guard: under overload even checking credentials is work to refuse cheaply.
      if (options.admission && method.methodKind === "unary") release = await options.admission.acquire(ctx.signal);
      guard(ctx);
      rejectMalformed(call.request);
      const result = await shape.produce(fn(call.request, ctx), ctx);
      observe(grpc.status.OK);
      shape.succeed(result);
    } catch (error) {
      const status = toServiceError(error, options.log, path);
      observe(status.code);
      span.failed(status.code);
      shape.fail(status);
    } finally {
      release?.();
      // Ends the call's signal and clears its deadline timer, as Connect's own server does.
      ctx.abort(CALL_ENDED);
    }
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
      const target = { method, path, fn: impl[method.localName] as Handler | undefined, guard, options };
      if (method.methodKind === "unary") {
        type UnaryCall = grpc.ServerUnaryCall<unknown, unknown>;
        handlers[method.name] = (call: UnaryCall, callback: grpc.sendUnaryData<unknown>) => {
          void serveCall(target, call, {
            produce: async (output) => output,
            succeed: (response) => callback(null, response),
            fail: (status) => callback(status),
          });
        };
      } else if (method.methodKind === "server_streaming") {
        handlers[method.name] = (call: grpc.ServerWritableStream<unknown, unknown>) =>
          serveCall(target, call, {
            async produce(output, ctx) {
              for await (const message of output as AsyncIterable<unknown>) {
                if (call.cancelled) break;
                // Respect backpressure so a slow client cannot make us buffer without bound.
                if (!call.write(message)) await once(call, "drain", { signal: ctx.signal }).catch(() => undefined);
              }
            },
            succeed: () => call.end(),
            fail: (status) => {
              if (!call.cancelled) call.emit("error", status);
            },
          });
      } else {
        throw new Error(`${path}: only unary and server-streaming methods are supported`);
      }
    }
    server.addService(definition as grpc.ServiceDefinition, handlers);
  }
}
