import { ConfigError, configReader, parseDuration, readCommonConfig } from "@seeme/runtime/config";

describe("config", () => {
  const secret = "x".repeat(32);

  it("applies defaults and parses values", () => {
    const config = readCommonConfig({ INTERNAL_AUTH_SECRET: secret, METRICS_PORT: "0" }, 9101);
    expect(config).toMatchObject({
      natsUrl: "nats://127.0.0.1:4222",
      natsPrefix: "",
      shutdownTimeoutMs: 8000,
      logLevel: "info",
    });
    expect(config.metricsPort).toBeUndefined();
    expect(readCommonConfig({ INTERNAL_AUTH_SECRET: secret }, 9101).metricsPort).toBe(9101);
    expect(parseDuration("15m")).toBe(900_000);
    expect(parseDuration("24h")).toBe(86_400_000);
    expect(parseDuration("1 hour")).toBeNull();
  });

  it.each([
    [{ PORT: "abc" }, 'PORT must be an integer from 0 to 65535, got "abc"'],
    [{ PORT: "70000" }, 'PORT must be an integer from 0 to 65535, got "70000"'],
  ])("rejects a bad port %j with one line naming the variable", (env, message) => {
    expect(() => configReader(env).port("PORT", 1)).toThrow(new ConfigError("PORT", message.replace(/^PORT /, "")));
  });

  it("names the variable for missing secrets, bad URLs and bad durations", () => {
    expect(() => readCommonConfig({}, 1)).toThrow("INTERNAL_AUTH_SECRET is required but not set");
    expect(() => readCommonConfig({ INTERNAL_AUTH_SECRET: "short" }, 1)).toThrow(
      "INTERNAL_AUTH_SECRET must be at least 32 characters long",
    );
    expect(() => readCommonConfig({ INTERNAL_AUTH_SECRET: secret, NATS_URL: "http://x" }, 1)).toThrow(
      /^NATS_URL must use nats or tls/,
    );
    expect(() => configReader({ TTL: "soon" }).durationMs("TTL", "1h")).toThrow(
      'TTL must be a duration like 30s, 15m or 24h, got "soon"',
    );
    expect(() => configReader({ TTL: "8d" }).durationMs("TTL", "1h", { max: "7d" })).toThrow(/^TTL must be between/);
  });
});
