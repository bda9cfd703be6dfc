import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
} from "@opentelemetry/api";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { headers as natsHeaders, type MsgHdrs } from "nats";

/*
 * OpenTelemetry traces: gateway → service (gRPC metadata) → PostgreSQL (Prisma's
 * instrumentation) and across NATS (W3C trace context in message headers).
 *
 * Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set: then
 * nothing of the SDK is even loaded, and every helper here is one boolean test.
 *
 * Spans carry method names, subjects without ids, status codes and timings only:
 * never pairIDs, account ids, tokens or payloads (core NATS subjects can end in
 * an account id, so they are named after their message type instead).
 */

let enabled = false;
// @opentelemetry/core's suppressTracing, loaded with the SDK.
let suppress: ((context: Context) => Context) | undefined;
const tracer = () => trace.getTracer("see-me");

export interface TracingOptions {
  /** service.name of the spans, unless OTEL_SERVICE_NAME says otherwise. */
  serviceName: string;
  env?: Record<string, string | undefined>;
  /** Export through these instead of OTLP (tests use an in-memory exporter); turns tracing on. */
  spanProcessors?: SpanProcessor[];
}

export interface Tracing {
  enabled: boolean;
  /** Flushes pending spans and turns tracing off. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, shutdown: async () => undefined };

/** Whether spans are being recorded in this process. */
export function tracingEnabled(): boolean {
  return enabled;
}

/**
 * Starts tracing for the process when configured. The OTLP exporter reads the
 * standard OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout) itself;
 * OTEL_TRACES_SAMPLER(_ARG) choose the sampler; OTEL_SDK_DISABLED=true forces off.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  const env = options.env ?? process.env;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (env.OTEL_SDK_DISABLED === "true" || (!endpoint && !options.spanProcessors)) return OFF;
  if (enabled) throw new Error("tracing is already started in this process");
  const [{ NodeTracerProvider }, { BatchSpanProcessor }, { resourceFromAttributes }, { PrismaInstrumentation }, core] =
    await Promise.all([
      import("@opentelemetry/sdk-trace-node"),
      import("@opentelemetry/sdk-trace-base"),
      import("@opentelemetry/resources"),
      import("@prisma/instrumentation"),
      import("@opentelemetry/core"),
    ]);
  suppress = core.suppressTracing;
  let processors = options.spanProcessors;
  if (!processors) {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
    processors = [new BatchSpanProcessor(new OTLPTraceExporter())];
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": env.OTEL_SERVICE_NAME || options.serviceName }),
    spanProcessors: processors,
  });
  // Registers the AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  // Spans for each Prisma operation and its SQL statements (text only, never parameters).
  const prisma = new PrismaInstrumentation();
  prisma.setTracerProvider(provider);
  prisma.enable();
  enabled = true;
  return {
    enabled: true,
    async shutdown() {
      enabled = false;
      prisma.disable();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** What a wrapped call may report about its span. */
export interface SpanHandle {
  /** The call ended with this gRPC status code. */
  failed(code: number): void;
}

const NO_SPAN: SpanHandle = { failed: () => undefined };

// gRPC codes that are the server's fault (OpenTelemetry's RPC conventions); the rest are the caller's.
const SERVER_FAULTS = new Set([2, 4, 12, 13, 14, 15]);

const recordGetter: TextMapGetter<Record<string, string>> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

async function inSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  parent: Context,
  fn: (handle: SpanHandle) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, parent, async (span: Span) => {
    const handle: SpanHandle = {
      failed(code) {
        span.setAttribute("rpc.grpc.status_code", code);
        if (kind !== SpanKind.SERVER || SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR });
      },
    };
    try {
      return await fn(handle);
    } catch (error) {
      // The error's message may name what the caller sent: only its kind goes on the span.
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs a server call in a SERVER span named after its method (`package.Service/Method`).
 * `incoming` holds the caller's headers to continue its trace; the gateway passes
 * none, so a device cannot choose our trace ids.
 */
export function withServerSpan<T>(
  method: string,
  incoming: Record<string, string> | undefined,
  fn: (handle: SpanHandle) => Promise<T>,
  component = "service",
): Promise<T> {
  if (!enabled) return fn(NO_SPAN);
  const parent = incoming ? propagation.extract(ROOT_CONTEXT, incoming, recordGetter) : ROOT_CONTEXT;
  const name = method.startsWith("/") ? method.slice(1) : method;
  const [service = "", rpcMethod = ""] = name.split("/");
  const attributes = {
    "rpc.system": component === "gateway" ? "connect_rpc" : "grpc",
    "rpc.service": service,
    "rpc.method": rpcMethod,
    "seeme.component": component,
  };
  return inSpan(name, SpanKind.SERVER, attributes, parent, fn);
}

/** Adds the current trace context to outgoing metadata (gRPC calls to other services). */
export function injectTraceContext(set: (key: string, value: string) => void): void {
  if (!enabled) return;
  propagation.inject(context.active(), undefined, { set: (_carrier, key, value) => set(key, value) });
}

/**
 * A Connect interceptor giving every public call a SERVER span, the root of its
 * trace (a device cannot choose our trace ids). A streaming response is read
 * inside the span, so the upstream call it opens continues the trace; the span
 * ends with the stream.
 */
export function tracingInterceptor(): Interceptor {
  return (next) => async (req) => {
    if (!enabled) return next(req);
    const attributes = {
      "rpc.system": "connect_rpc",
      "rpc.service": req.service.typeName,
      "rpc.method": req.method.name,
      "seeme.component": "gateway",
    };
    const name = `${req.service.typeName}/${req.method.name}`;
    const span = tracer().startSpan(name, { kind: SpanKind.SERVER, attributes }, ROOT_CONTEXT);
    const spanContext = trace.setSpan(ROOT_CONTEXT, span);
    let response: Awaited<ReturnType<typeof next>>;
    try {
      response = await context.with(spanContext, () => next(req));
    } catch (error) {
      endFailed(span, error);
      throw error;
    }
    if (!response.stream) {
      span.end();
      return response;
    }
    return { ...response, message: readInContext(response.message, spanContext, span) };
  };
}

/** A call's SERVER span opened outside Connect: its context for the upstream call, and its end. */
export interface RelaySpan {
  /** Trace context headers (traceparent, …) for the upstream call, so it continues this trace. */
  headers: Record<string, string>;
  /** Ends the span with the call's gRPC status code. */
  end(code: number): void;
}

/**
 * The gateway's SERVER span for a call relayed without Connect (the raw relay):
 * the same name and attributes as tracingInterceptor's, the root of its trace
 * (whatever trace context the device sent is ignored). Undefined when tracing is off.
 */
export function startRelaySpan(service: string, method: string): RelaySpan | undefined {
  if (!enabled) return undefined;
  const attributes = {
    "rpc.system": "connect_rpc",
    "rpc.service": service,
    "rpc.method": method,
    "seeme.component": "gateway",
  };
  const span = tracer().startSpan(`${service}/${method}`, { kind: SpanKind.SERVER, attributes }, ROOT_CONTEXT);
  const headers: Record<string, string> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), headers, {
    set: (carrier, key, value) => {
      carrier[key] = value;
    },
  });
  return {
    headers,
    end(code) {
      if (code !== 0) {
        span.setAttribute("rpc.grpc.status_code", code);
        if (SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    },
  };
}

function endFailed(span: Span, error: unknown): void {
  // The code only: the error's message may name what the caller sent.
  const code = ConnectError.from(error).code as number;
  span.setAttribute("rpc.grpc.status_code", code);
  if (SERVER_FAULTS.has(code)) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

async function* readInContext<T>(source: AsyncIterable<T>, spanContext: Context, span: Span): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let failed = false;
  try {
    for (;;) {
      const next = await context.with(spanContext, () => iterator.next());
      if (next.done) return;
      yield next.value;
    }
  } catch (error) {
    failed = true;
    endFailed(span, error);
    throw error;
  } finally {
    // Ends the upstream call when the client went away early.
    await iterator.return?.();
    if (!failed) span.end();
  }
}

/** Runs `fn` with tracing suppressed (health probes, outbox polls): no span of it is recorded. */
export function untraced<T>(fn: () => T): T {
  return enabled && suppress ? context.with(suppress(ROOT_CONTEXT), fn) : fn();
}

/** Runs `fn` outside any trace: periodic work must not join the trace of whatever call last kicked it. */
export function outsideTrace<T>(fn: () => T): T {
  return enabled ? context.with(ROOT_CONTEXT, fn) : fn();
}

// ---------------------------------------------------------------------------
// NATS
// ---------------------------------------------------------------------------

const natsGetter: TextMapGetter<MsgHdrs> = {
  get: (carrier, key) => carrier.get(key) || undefined,
  keys: (carrier) => carrier.keys(),
};

/**
 * Publishes in a PRODUCER span whose context travels in the message headers.
 * `name` is a subject without ids or a message type name.
 */
export function withPublishSpan<T>(
  name: string,
  publish: (headers: MsgHdrs | undefined) => Promise<T> | T,
): Promise<T> | T {
  if (!enabled) return publish(undefined);
  const attributes = { "messaging.system": "nats", "messaging.operation.type": "send" };
  return inSpan(`publish ${name}`, SpanKind.PRODUCER, attributes, context.active(), async () => {
    const headers = natsHeaders();
    propagation.inject(context.active(), headers, { set: (carrier, key, value) => carrier.set(key, value) });
    return publish(headers);
  });
}

/** Same as withPublishSpan for a synchronous publish (core NATS), which throws instead of rejecting. */
export function withPublishSpanSync<T>(name: string, publish: (headers: MsgHdrs | undefined) => T): T {
  if (!enabled) return publish(undefined);
  const attributes = { "messaging.system": "nats", "messaging.operation.type": "send" };
  return tracer().startActiveSpan(`publish ${name}`, { kind: SpanKind.PRODUCER, attributes }, (span) => {
    try {
      const headers = natsHeaders();
      propagation.inject(context.active(), headers, { set: (carrier, key, value) => carrier.set(key, value) });
      return publish(headers);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Handles a received message in a CONSUMER span continuing the publisher's trace. */
export function withConsumeSpan<T>(
  name: string,
  headers: MsgHdrs | undefined,
  handle: () => Promise<T> | T,
): Promise<T> | T {
  if (!enabled) return handle();
  const parent = headers ? propagation.extract(ROOT_CONTEXT, headers, natsGetter) : ROOT_CONTEXT;
  const attributes = { "messaging.system": "nats", "messaging.operation.type": "process" };
  return inSpan(`process ${name}`, SpanKind.CONSUMER, attributes, parent, async () => handle());
}
