import { trace } from "@opentelemetry/api";
import {
  injectTraceContext,
  startTracing,
  tracingEnabled,
  withPublishSpanSync,
  withServerSpan,
} from "@seeme/runtime/tracing";

describe("tracing when OTEL_EXPORTER_OTLP_ENDPOINT is not set", () => {
  it("stays off: no provider is registered and the helpers only run what they wrap", async () => {
    const tracing = await startTracing({ serviceName: "test", env: {} });
    expect(tracing.enabled).toBe(false);
    expect(tracingEnabled()).toBe(false);
    // The API's no-op provider: nothing of the SDK was registered.
    expect(trace.getTracer("x").startSpan("s").isRecording()).toBe(false);

    const metadata: Record<string, string> = {};
    injectTraceContext((key, value) => (metadata[key] = value));
    expect(metadata).toEqual({});
    const incoming = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
    await expect(withServerSpan("/a.B/C", incoming, async () => 7)).resolves.toBe(7);
    expect(withPublishSpanSync("x", (headers) => headers)).toBeUndefined();
    await tracing.shutdown();
  });

  it("OTEL_SDK_DISABLED=true wins over a configured endpoint", async () => {
    const tracing = await startTracing({
      serviceName: "test",
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" },
    });
    expect(tracing.enabled).toBe(false);
    expect(tracingEnabled()).toBe(false);
  });
});
