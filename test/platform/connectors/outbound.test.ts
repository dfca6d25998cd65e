import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/config.ts";
import { HttpConnector, isLoopbackHost, OutboundPolicy } from "../../../src/platform/connectors/index.ts";
import { answer, cleanUp, registryFor, startServer } from "./connector-test-kit.ts";

afterEach(cleanUp);

/** A fetch that must never be reached, counting the calls that reach it anyway. */
function spyFetch(status = 200) {
  const calls: string[] = [];
  const fetch: typeof globalThis.fetch = async (input) => {
    calls.push(String(input));
    return new Response("{}", { status });
  };
  return { calls, fetch };
}

describe("outbound allow-list", () => {
  it("refuses a host that is not on the allow-list before any connection", async () => {
    const server = await startServer(answer(200));
    const { connectors } = registryFor({ allowedHosts: ["rail.example.com"] });
    const connector = connectors.http({ name: "elsewhere", baseUrl: server.url, timeoutMs: 1_000 });
    expect(await connector.request({ method: "GET", path: "/", read: "none" })).toEqual({
      ok: false,
      failure: { code: "host-not-allowed", retryable: false },
    });
    expect(server.connections()).toBe(0);
    expect(server.requests).toHaveLength(0);
    // A refusal is the caller's problem, not the system's: it does not open the circuit.
    expect(connector.state).toBe("closed");
  });

  it("calls a host on the list, matched by name or by name:port, regardless of case", async () => {
    const server = await startServer(answer(200));
    const port = new URL(server.url).port;
    for (const allowed of ["127.0.0.1", `127.0.0.1:${port}`]) {
      const { connectors } = registryFor({ allowedHosts: [allowed.toUpperCase()] });
      const connector = connectors.http({ name: "allowed", baseUrl: server.url, timeoutMs: 1_000 });
      expect((await connector.request({ method: "GET", path: "/", read: "none" })).ok).toBe(true);
    }
    const otherPort = new OutboundPolicy({ allowedHosts: ["127.0.0.1:1"], allowPlaintext: false });
    expect(otherPort.check(new URL(server.url))).toMatchObject({ code: "host-not-allowed" });
  });

  it("refuses a path that would lead to another host", async () => {
    const { fetch, calls } = spyFetch();
    const connector = HttpConnector.pinnedTo({
      name: "pinned",
      baseUrl: "https://kyc.example.com",
      timeoutMs: 1_000,
      fetch,
    });
    await expect(
      connector.request({ method: "GET", path: "//evil.example/x", read: "none" }),
    ).rejects.toThrow();
    expect(await connector.request({ method: "GET", path: "/@evil.example", read: "none" })).toMatchObject({
      ok: true,
    });
    expect(calls).toEqual(["https://kyc.example.com/@evil.example"]);
  });

  it("does not follow a redirect to a host the allow-list never saw", async () => {
    const server = await startServer((_request, response) => {
      response.writeHead(302, { location: "https://elsewhere.example/" }).end();
    });
    const { connectors } = registryFor({ allowedHosts: ["127.0.0.1"] });
    const connector = connectors.http({ name: "redirecting", baseUrl: server.url, timeoutMs: 1_000 });
    expect(await connector.request({ method: "GET", path: "/", read: "text" })).toEqual({
      ok: false,
      failure: { code: "invalid-response", retryable: false, status: 302 },
    });
    expect(server.requests).toHaveLength(1);
  });

  it("refuses an answer larger than responseBodyMaxBytes", async () => {
    const server = await startServer((_request, response) => {
      response.writeHead(200).end("x".repeat(2_000));
    });
    const { connectors } = registryFor({ allowedHosts: ["127.0.0.1"] });
    const connector = connectors.http({
      name: "large",
      baseUrl: server.url,
      timeoutMs: 1_000,
      responseBodyMaxBytes: 1_000,
    });
    expect(await connector.request({ method: "GET", path: "/", read: "text" })).toMatchObject({
      ok: false,
      failure: { code: "invalid-response" },
    });
  });
});

describe("outbound plaintext", () => {
  it("refuses http to a host that is not loopback, unless plaintext is allowed", async () => {
    for (const allowPlaintext of [false, true]) {
      const { fetch, calls } = spyFetch();
      const { connectors } = registryFor({ allowedHosts: ["kyc.internal"], allowPlaintext });
      const connector = connectors.http({
        name: "kyc",
        baseUrl: "http://kyc.internal:4200",
        timeoutMs: 1_000,
        fetch,
      });
      const result = await connector.request({ method: "GET", path: "/", read: "none" });
      if (allowPlaintext) {
        expect(result.ok).toBe(true);
        expect(calls).toHaveLength(1);
      } else {
        expect(result).toEqual({ ok: false, failure: { code: "plaintext-not-allowed", retryable: false } });
        expect(calls).toHaveLength(0);
      }
    }
  });

  it("allows http to loopback (the development simulators) and https anywhere on the list", async () => {
    const server = await startServer(answer(200));
    const { connectors } = registryFor({ allowedHosts: ["127.0.0.1", "rail.example.com"] });
    const local = connectors.http({ name: "local", baseUrl: server.url, timeoutMs: 1_000 });
    expect((await local.request({ method: "GET", path: "/", read: "none" })).ok).toBe(true);
    const { fetch, calls } = spyFetch();
    const remote = connectors.http({
      name: "remote",
      baseUrl: "https://rail.example.com",
      timeoutMs: 1_000,
      fetch,
    });
    expect((await remote.request({ method: "GET", path: "/", read: "none" })).ok).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it("knows which hosts are loopback", () => {
    for (const host of ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "LOCALHOST"]) {
      expect(isLoopbackHost(host)).toBe(true);
    }
    for (const host of ["10.0.0.1", "128.0.0.1", "localhost.example.com", "[::2]", "0.0.0.0"]) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });
});

describe("outbound configuration", () => {
  const rail = { OMNICORE_RAIL_URL: "https://rail.example.com", OMNICORE_RAIL_WEBHOOK_SECRET: "s" };

  it("defaults the allow-list to the hosts of the configured connector URLs", () => {
    expect(loadConfig({}).outbound).toEqual({ allowedHosts: [], allowPlaintext: false });
    const config = loadConfig({
      ...rail,
      OMNICORE_KYC_URL: "http://127.0.0.1:4200",
      OMNICORE_KYC_API_KEY: "k",
      OMNICORE_KYC_WEBHOOK_SECRET: "s",
    });
    expect(config.outbound.allowedHosts).toEqual(["rail.example.com", "127.0.0.1"]);
  });

  it("refuses to start when an explicit allow-list leaves out a connector's host", () => {
    expect(() => loadConfig({ ...rail, OMNICORE_OUTBOUND_HOSTS: "kyc.example.com" })).toThrow(
      /OMNICORE_RAIL_URL's host rail\.example\.com is not in OMNICORE_OUTBOUND_HOSTS/,
    );
    expect(
      loadConfig({ ...rail, OMNICORE_OUTBOUND_HOSTS: "Rail.Example.com, other.example" }).outbound,
    ).toEqual({
      allowedHosts: ["rail.example.com", "other.example"],
      allowPlaintext: false,
    });
  });

  it("refuses plain http to a remote connector unless OMNICORE_OUTBOUND_ALLOW_PLAINTEXT=true", () => {
    const plain = { ...rail, OMNICORE_RAIL_URL: "http://rail.internal:4100" };
    expect(() => loadConfig(plain)).toThrow(ConfigError);
    expect(loadConfig({ ...plain, OMNICORE_OUTBOUND_ALLOW_PLAINTEXT: "true" }).outbound.allowPlaintext).toBe(
      true,
    );
  });

  it("refuses to start with TLS verification turned off", () => {
    expect(() => loadConfig({ NODE_TLS_REJECT_UNAUTHORIZED: "0" })).toThrow(/NODE_TLS_REJECT_UNAUTHORIZED/);
  });

  it("reads the connector defaults and their bounds", () => {
    expect(loadConfig({}).connectors).toEqual({
      attemptsMax: 3,
      retryBackoffInitialMs: 100,
      retryBackoffMaxMs: 2_000,
      breakerFailuresMax: 5,
      breakerHalfOpenAfterMs: 30_000,
      concurrencyMax: 16,
      queueMax: 64,
    });
    expect(() => loadConfig({ OMNICORE_CONNECTOR_ATTEMPTS_MAX: "50" })).toThrow(
      /OMNICORE_CONNECTOR_ATTEMPTS_MAX/,
    );
  });
});
