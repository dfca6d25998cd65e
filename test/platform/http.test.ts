import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";

const GENERATED_REQUEST_ID = /^req_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let app: TestApp;

beforeAll(async () => {
  app = await createTestApp();
});

afterAll(async () => {
  await app?.destroy();
});

/** Asserts the RFC 9457 shape every error shares and returns the body. */
function expectProblem(
  response: { statusCode: number; headers: Record<string, unknown>; body: string },
  status: number,
  slug: string,
) {
  expect(response.statusCode).toBe(status);
  expect(String(response.headers["content-type"])).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect(body.type).toBe(`https://omnicore.dev/problems/${slug}`);
  expect(body.status).toBe(status);
  expect(typeof body.title).toBe("string");
  expect(typeof body.detail).toBe("string");
  expect(body.requestId).toBe(response.headers["x-request-id"]);
  expect(body).not.toHaveProperty("stack");
  expect(response.body).not.toMatch(/\bat .+\.ts:\d+/);
  return body;
}

describe("operations endpoints", () => {
  it("GET /health answers ok", async () => {
    const response = await app.http.inject({ method: "GET", url: "/health" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "ok" });
  });

  it("GET /ready reports every dependency up", async () => {
    const response = await app.http.inject({ method: "GET", url: "/ready" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      status: "ready",
      checks: {
        database: { status: "up" },
        migrations: { status: "up" },
        cache: { status: "up" },
        eventBus: { status: "up" },
      },
    });
  });

  it("GET /metrics exposes request latency and outbox lag in Prometheus text format", async () => {
    await app.http.inject({ method: "GET", url: "/health" });
    const response = await app.http.inject({ method: "GET", url: "/metrics" });
    expect(response.statusCode).toBe(200);
    expect(String(response.headers["content-type"])).toMatch(/^text\/plain/);
    expect(response.body).toContain("# TYPE http_request_duration_seconds histogram");
    expect(response.body).toMatch(/http_request_duration_seconds_count\{[^}]*route="\/health"[^}]*\} [1-9]/);
    expect(response.body).toMatch(/^omnicore_outbox_pending_events \d+$/m);
    expect(response.body).toMatch(/^omnicore_outbox_lag_seconds /m);
  });
});

describe("problem+json for errors", () => {
  it("answers an unknown route with 404 not-found", async () => {
    const response = await app.http.inject({ method: "GET", url: "/v1/no-such-thing?x=1" });
    const body = expectProblem(response, 404, "not-found");
    expect(String(body.type).endsWith("/not-found")).toBe(true);
    expect(body.instance).toBe("/v1/no-such-thing");
    expect(String(body.requestId)).toMatch(GENERATED_REQUEST_ID);
  });

  it("refuses a protected route without a bearer token with 401 unauthorized", async () => {
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/accounts",
      payload: { type: "current", currency: "EUR" },
    });
    expectProblem(response, 401, "unauthorized");
  });

  it("refuses a bearer token that is not a valid token with 401 unauthorized", async () => {
    const response = await app.http.inject({
      method: "GET",
      url: "/v1/accounts",
      headers: { authorization: "Bearer not-a-token" },
    });
    expectProblem(response, 401, "unauthorized");
  });

  it("answers a malformed JSON body with 400 validation, before anything else runs", async () => {
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/accounts",
      headers: { "content-type": "application/json" },
      payload: '{"type": "current", ',
    });
    const body = expectProblem(response, 400, "validation");
    expect(body.detail).toMatch(/JSON/);
  });

  it("answers a body over the configured limit with 413 payload-too-large", async () => {
    const response = await app.http.inject({
      method: "POST",
      url: "/v1/accounts",
      headers: { "content-type": "application/json" },
      payload: JSON.stringify({ padding: "x".repeat(app.config.http.bodyLimitBytes) }),
    });
    expectProblem(response, 413, "payload-too-large");
  });
});

describe("request ids", () => {
  it("echoes a well-formed X-Request-Id in the header and in problems", async () => {
    const requestId = "client-req_42:abc.DEF";
    const response = await app.http.inject({
      method: "GET",
      url: "/v1/unknown",
      headers: { "x-request-id": requestId },
    });
    expect(response.headers["x-request-id"]).toBe(requestId);
    expect(response.json().requestId).toBe(requestId);
  });

  it("generates a request id when none is sent", async () => {
    const response = await app.http.inject({ method: "GET", url: "/health" });
    expect(String(response.headers["x-request-id"])).toMatch(GENERATED_REQUEST_ID);
  });

  it("generates a different request id for each request", async () => {
    const [first, second] = await Promise.all([
      app.http.inject({ method: "GET", url: "/health" }),
      app.http.inject({ method: "GET", url: "/health" }),
    ]);
    expect(first?.headers["x-request-id"]).not.toBe(second?.headers["x-request-id"]);
  });

  it.each([
    ["300 characters", "a".repeat(300)],
    ["129 characters", "b".repeat(129)],
    ["spaces", "has spaces in it"],
    ["a newline-free injection attempt", "abc<script>"],
    ["non-ASCII", "réquest"],
  ])("replaces a malformed X-Request-Id (%s) with a generated one", async (_label, requestId) => {
    const response = await app.http.inject({
      method: "GET",
      url: "/v1/unknown",
      headers: { "x-request-id": requestId },
    });
    const echoed = String(response.headers["x-request-id"]);
    expect(echoed).toMatch(GENERATED_REQUEST_ID);
    expect(echoed).not.toBe(requestId);
    expect(response.json().requestId).toBe(echoed);
  });

  it("accepts an X-Request-Id of exactly 128 characters", async () => {
    const requestId = "c".repeat(128);
    const response = await app.http.inject({
      method: "GET",
      url: "/health",
      headers: { "x-request-id": requestId },
    });
    expect(response.headers["x-request-id"]).toBe(requestId);
  });
});

describe("API description", () => {
  it("serves an OpenAPI 3.1 document that lists the public routes and hides the operational ones", async () => {
    const response = await app.http.inject({ method: "GET", url: "/openapi.json" });
    expect(response.statusCode).toBe(200);
    const document = response.json() as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, unknown>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(document.openapi).toBe("3.1.0");
    expect(document.info.title).toBe("Omnicore API");
    expect(document.paths["/v1/transfers"]).toHaveProperty("post");
    expect(document.paths).toHaveProperty("/health");
    expect(document.paths).not.toHaveProperty("/metrics");
    expect(document.paths).not.toHaveProperty("/openapi.json");
    expect(Object.keys(document.components.securitySchemes).sort()).toEqual([
      "customerToken",
      "kycSignature",
      "railSignature",
      "staffToken",
    ]);
  });

  it("serves the interactive reference at /docs as HTML", async () => {
    let response = await app.http.inject({ method: "GET", url: "/docs" });
    for (
      let redirects = 0;
      redirects < 3 && response.statusCode >= 300 && response.statusCode < 400;
      redirects++
    ) {
      const location = String(response.headers.location);
      response = await app.http.inject({
        method: "GET",
        url: new URL(location, "http://localhost/docs").pathname,
      });
    }
    expect(response.statusCode).toBe(200);
    expect(String(response.headers["content-type"])).toMatch(/^text\/html/);
    expect(response.body).toMatch(/<html/i);
    expect(response.body).toContain("/openapi.json");
  });
});
