import * as grpc from "@grpc/grpc-js";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { RETRY_AFTER_HEADER } from "./admission.js";
import { ConnectError, type CallOptions, type Client, type Code } from "@connectrpc/connect";
import { deserializer, methodPath, serializer } from "./grpc-codec.js";
import { injectTraceContext } from "./tracing.js";

/**
 * The client half of the grpc-js bridge: a typed Connect-style client over a
 * grpc-js channel. Calls reject with the ConnectError the server threw (its code
 * is the gRPC status code).
 */
export interface GrpcClientOptions {
  /** Metadata added to every call (e.g. the service credential). */
  headers?: () => Record<string, string>;
  /** Deadline for calls that set none; streams get none by default. */
  defaultTimeoutMs?: number;
}

/** Reads a ServiceError from grpc-js back into the ConnectError it started as. */
function toConnectError(error: grpc.ServiceError): ConnectError {
  // Keeps the retry hint of a refused call (admission.ts) so the gateway passes it on.
  const hint = error.metadata?.get(RETRY_AFTER_HEADER)[0];
  return new ConnectError(
    error.details || error.message,
    error.code as number as Code,
    typeof hint === "string" ? { [RETRY_AFTER_HEADER]: hint } : undefined,
  );
}

function metadataFor(options: GrpcClientOptions, call: CallOptions | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (options.headers) for (const [key, value] of Object.entries(options.headers())) metadata.set(key, value);
  // The callee continues this call's trace (a no-op unless tracing is on).
  injectTraceContext((key, value) => metadata.set(key, value));
  const headers = call?.headers;
  if (headers === undefined) return metadata;
  // Callers pass plain records (the gateway on every call): no Headers object needed for those.
  if (headers instanceof Headers || Array.isArray(headers)) {
    new Headers(headers).forEach((value, key) => metadata.set(key, value));
  } else for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return metadata;
}

interface Started<C> {
  call: C;
  /** Detaches from the caller's signal (which usually outlives the call: the gateway's ends with its own call). */
  release(): void;
}

/**
 * The one call wrapper, for unary and streaming methods alike: metadata (service
 * credential, caller headers, trace context), the deadline, and cancellation
 * when the caller's signal aborts.
 */
function startCall<C extends grpc.Call>(
  options: GrpcClientOptions,
  call: CallOptions | undefined,
  fallbackTimeoutMs: number | undefined,
  start: (metadata: grpc.Metadata, callOptions: grpc.CallOptions) => C,
): Started<C> {
  const ms = call?.timeoutMs ?? fallbackTimeoutMs;
  const started = start(metadataFor(options, call), ms ? { deadline: Date.now() + ms } : {});
  const signal = call?.signal;
  const abort = () => started.cancel();
  signal?.addEventListener("abort", abort, { once: true });
  return { call: started, release: () => signal?.removeEventListener("abort", abort) };
}

function unaryMethod(channel: grpc.Client, method: DescMethod, options: GrpcClientOptions) {
  const path = methodPath(method);
  const [serialize, deserialize] = [serializer(method.input), deserializer(method.output)];
  return (request: unknown, call?: CallOptions) =>
    new Promise((resolve, reject) => {
      const { release } = startCall(options, call, options.defaultTimeoutMs ?? 10_000, (metadata, callOptions) =>
        channel.makeUnaryRequest(path, serialize, deserialize, request, metadata, callOptions, (error, response) => {
          release();
          if (error) reject(toConnectError(error));
          else resolve(response);
        }),
      );
    });
}

function serverStreamingMethod(channel: grpc.Client, method: DescMethod, options: GrpcClientOptions) {
  const path = methodPath(method);
  const [serialize, deserialize] = [serializer(method.input), deserializer(method.output)];
  return (request: unknown, call?: CallOptions) =>
    (async function* () {
      const { call: stream, release } = startCall(options, call, undefined, (metadata, callOptions) =>
        channel.makeServerStreamRequest(path, serialize, deserialize, request, metadata, callOptions),
      );
      try {
        for await (const message of stream) yield message;
      } catch (error) {
        throw toConnectError(error as grpc.ServiceError);
      } finally {
        release();
        stream.cancel();
      }
    })();
}

/** A typed client for `service` over one grpc-js channel to `address` (host:port). */
export function createGrpcClient<D extends DescService>(
  service: D,
  address: string,
  options: GrpcClientOptions = {},
): Client<D> & { close(): void } {
  const channel = new grpc.Client(address, grpc.credentials.createInsecure(), {
    "grpc.keepalive_time_ms": 30_000,
    "grpc.max_receive_message_length": 16 * 1024 * 1024,
    // A resolver target (`dns:///` over a headless Service's pods, `ipv4:a,b`) spreads calls over every
    // address; a plain host:port keeps pick_first, which waits for a restarting server instead of failing fast.
    ...(/^(dns|ipv4|ipv6):/.test(address)
      ? { "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) }
      : {}),
  });
  const client: Record<string, unknown> = { close: () => channel.close() };
  for (const method of service.methods) {
    if (method.methodKind === "unary") client[method.localName] = unaryMethod(channel, method, options);
    else if (method.methodKind === "server_streaming") {
      client[method.localName] = serverStreamingMethod(channel, method, options);
    }
  }
  return client as Client<D> & { close(): void };
}
