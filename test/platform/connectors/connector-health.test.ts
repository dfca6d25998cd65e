import { afterEach, describe, expect, it } from "vitest";
import type { ConnectorRegistry, HttpConnector } from "../../../src/platform/connectors/index.ts";
import { DEFAULT_EDGE_HEADERS } from "../../../src/platform/http/client-origin.ts";
import { registerOpsRoutes } from "../../../src/platform/http/ops.routes.ts";
import { createHttpServer } from "../../../src/platform/http/server.ts";
import { createLogger } from "../../../src/platform/logger.ts";
import { createMetrics } from "../../../src/platform/metrics.ts";
import { createTestApp, type TestApp } from "../../helpers/test-app.ts";
import { answer, cleanUp, registryFor, startServer } from "./connector-test-kit.ts";

afterEach(cleanUp);

/** The real ops routes over a registry's readiness checks, with the registry's metrics. */
async function opsServer(connectors: ConnectorRegistry) {
  const metrics = createMetrics({ outboxLag: async () => ({ pending: 0, oldestAgeS: 0 }) });
  const http = await createHttpServer({
    logger: createLogger({ level: "silent" }),
    metrics,
    bodyLimitBytes: 65_536,
    edge: { trustedProxies: [], ...DEFAULT_EDGE_HEADERS },
    version: "test",
  });
  registerOpsRoutes(http, {
    metrics,
    isShuttingDown: () => false,
    checks: { database: async () => undefined, ...connectors.readinessChecks() },
  });
  return http;
}

async function openCircuitOf(connector: HttpConnector) {
  while (connector.state !== "open") await connector.request({ method: "GET", path: "/", read: "none" });
}

describe("connector metrics and /ready", () => {
  it("report an open breaker: gauge 2, the errors by code, and a degraded optional connector", async () => {
    const server = await startServer(answer(503));
    const { connectors, metrics } = registryFor({ allowedHosts: ["127.0.0.1"] });
    const kyc = connectors.http({
      name: "kyc-provider",
      baseUrl: server.url,
      timeoutMs: 1_000,
      retry: { attemptsMax: 1 },
      breaker: { failuresMax: 2, halfOpenAfterMs: 60_000 },
    });
    connectors.http({ name: "payment-rail", baseUrl: server.url, timeoutMs: 1_000 });
    const http = await opsServer(connectors);

    const before = await http.inject({ method: "GET", url: "/ready" });
    expect(before.json()).toEqual({
      status: "ready",
      checks: {
        database: { status: "up" },
        "connector:kyc-provider": { status: "up" },
        "connector:payment-rail": { status: "up" },
      },
    });

    await openCircuitOf(kyc);
    expect(await kyc.request({ method: "GET", path: "/", read: "none" })).toMatchObject({
      failure: { code: "circuit-open" },
    });
    const text = await metrics.metrics();
    expect(text).toMatch(/^omnicore_connector_breaker_state\{connector="kyc-provider"\} 2$/m);
    expect(text).toMatch(/^omnicore_connector_breaker_state\{connector="payment-rail"\} 0$/m);
    expect(text).toMatch(
      /^omnicore_connector_request_duration_seconds_count\{connector="kyc-provider",outcome="unavailable"\} 2$/m,
    );
    expect(text).toMatch(
      /^omnicore_connector_errors_total\{connector="kyc-provider",code="circuit-open"\} 1$/m,
    );
    expect(text).not.toContain(server.url);

    // Only the KYC provider is down: the node stays in the load balancer and says so in the body.
    const after = await http.inject({ method: "GET", url: "/ready" });
    expect(after.statusCode).toBe(200);
    expect(after.json().checks["connector:kyc-provider"]).toMatchObject({ status: "degraded" });
    expect(after.json().checks["connector:payment-rail"]).toEqual({ status: "up" });
    await http.close();
  });

  it("fails readiness when the circuit of a required connector is open", async () => {
    const server = await startServer(answer(503));
    const { connectors } = registryFor({ allowedHosts: ["127.0.0.1"] });
    const core = connectors.http({
      name: "core",
      baseUrl: server.url,
      timeoutMs: 1_000,
      required: true,
      retry: { attemptsMax: 1 },
      breaker: { failuresMax: 1, halfOpenAfterMs: 60_000 },
    });
    const http = await opsServer(connectors);
    await openCircuitOf(core);
    const response = await http.inject({ method: "GET", url: "/ready" });
    expect(response.statusCode).toBe(503);
    expect(response.json().checks["connector:core"]).toMatchObject({ status: "down" });
    await http.close();
  });

  it("refuses two connectors with the same name", () => {
    const { connectors } = registryFor({ allowedHosts: [] });
    connectors.http({ name: "twice", baseUrl: "https://a.example", timeoutMs: 1_000 });
    expect(() =>
      connectors.http({ name: "twice", baseUrl: "https://b.example", timeoutMs: 1_000 }),
    ).toThrow();
  });
});

describe("connectors in the app", () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.destroy();
    app = undefined;
  });

  it("registers the payment rail and the KYC provider in /ready and /metrics", async () => {
    const server = await startServer(answer(200));
    app = await createTestApp({
      start: false,
      env: {
        OMNICORE_RAIL_URL: server.url,
        OMNICORE_RAIL_WEBHOOK_SECRET: "rail-secret",
        OMNICORE_KYC_URL: server.url,
        OMNICORE_KYC_API_KEY: "kyc-key",
        OMNICORE_KYC_WEBHOOK_SECRET: "kyc-secret",
      },
    });
    const ready = await app.http.inject({ method: "GET", url: "/ready" });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().checks).toMatchObject({
      "connector:payment-rail": { status: "up" },
      "connector:kyc-provider": { status: "up" },
    });
    const metrics = await app.http.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toMatch(/^omnicore_connector_breaker_state\{connector="payment-rail"\} 0$/m);
    expect(metrics.body).toMatch(/^omnicore_connector_breaker_state\{connector="kyc-provider"\} 0$/m);
  });
});
