import { afterEach, describe, expect, it } from "vitest";
import { backoffDelayMs, type HttpConnector } from "../../../src/platform/connectors/index.ts";
import { answer, cleanUp, FAST_DEFAULTS, registryFor, sleep, startServer } from "./connector-test-kit.ts";

afterEach(cleanUp);

/** A connector to `server` through a registry that allows its host. */
function connectorTo(url: string, definition: Partial<Parameters<typeof HttpConnector.pinnedTo>[0]> = {}) {
  const { connectors, metrics } = registryFor({ allowedHosts: ["127.0.0.1"] });
  const connector = connectors.http({
    name: "test-system",
    baseUrl: url,
    timeoutMs: 1_000,
    breaker: { failuresMax: 100 },
    ...definition,
  });
  return { connector, metrics };
}

describe("connector timeout", () => {
  it("ends an attempt that gets no answer within timeoutMs as a retryable timeout", async () => {
    // Never answers: only the connector's own timeout ends the wait.
    const server = await startServer(() => undefined);
    const { connector } = connectorTo(server.url, { timeoutMs: 30, retry: { attemptsMax: 1 } });
    expect(await connector.request({ method: "GET", path: "/slow", read: "text" })).toEqual({
      ok: false,
      failure: { code: "timeout", retryable: true },
    });
    // One attempt at most, never a retry. Under load the 30 ms can pass before the server has even
    // read the request, so "exactly one arrived" would be a race.
    expect(server.requests.length).toBeLessThanOrEqual(1);
  });
});

describe("connector retry: only idempotent calls", () => {
  it("retries a GET after 503 up to attemptsMax", async () => {
    const server = await startServer(answer(503));
    const { connector } = connectorTo(server.url);
    expect(await connector.request({ method: "GET", path: "/v1/thing", read: "text" })).toEqual({
      ok: false,
      failure: { code: "unavailable", retryable: true, status: 503 },
    });
    expect(server.requests).toHaveLength(FAST_DEFAULTS.attemptsMax);
  });

  it("never retries a POST without an Idempotency-Key", async () => {
    const server = await startServer(answer(503));
    const { connector } = connectorTo(server.url);
    const result = await connector.request({ method: "POST", path: "/v1/things", body: "{}", read: "text" });
    expect(result).toMatchObject({ ok: false, failure: { code: "unavailable" } });
    expect(server.requests).toHaveLength(1);
  });

  it("does not retry a POST without a key that timed out either", async () => {
    const server = await startServer(() => undefined);
    const { connector } = connectorTo(server.url, { timeoutMs: 30 });
    const result = await connector.request({ method: "POST", path: "/v1/things", read: "none" });
    expect(result).toMatchObject({ ok: false, failure: { code: "timeout" } });
    expect(server.requests).toHaveLength(1);
  });

  it("retries a POST with an Idempotency-Key, sending the same key every time", async () => {
    const server = await startServer((request, response, index) =>
      answer(index < 2 ? 503 : 201, { id: "thing_1" })(request, response),
    );
    const { connector } = connectorTo(server.url);
    const result = await connector.request({
      method: "POST",
      path: "/v1/things",
      body: "{}",
      idempotencyKey: "key-1",
      read: "text",
    });
    expect(result).toMatchObject({ ok: true, value: { status: 201, text: '{"id":"thing_1"}' } });
    expect(server.requests.map((request) => request.idempotencyKey)).toEqual(["key-1", "key-1", "key-1"]);
  });

  it("does not retry a call marked retry: false, nor a refused 4xx", async () => {
    const unavailable = await startServer(answer(503));
    const once = connectorTo(unavailable.url).connector;
    await once.request({ method: "GET", path: "/", retry: false, read: "none" });
    expect(unavailable.requests).toHaveLength(1);

    const refusing = await startServer(answer(422, { secret: "never in a failure" }));
    const { connector } = connectorTo(refusing.url);
    expect(await connector.request({ method: "GET", path: "/", read: "text" })).toEqual({
      ok: false,
      failure: { code: "refused", retryable: false, status: 422 },
    });
    expect(refusing.requests).toHaveLength(1);
  });

  it("counts a network failure as retryable and retries it", async () => {
    const server = await startServer(answer(200));
    const url = server.url;
    await server.close();
    const { connector, metrics } = connectorTo(url);
    expect(await connector.request({ method: "GET", path: "/", read: "none" })).toEqual({
      ok: false,
      failure: { code: "network", retryable: true },
    });
    const retries = await metrics.getSingleMetricAsString("omnicore_connector_retries_total");
    expect(retries).toContain(
      `omnicore_connector_retries_total{connector="test-system"} ${FAST_DEFAULTS.attemptsMax - 1}`,
    );
  });
});

describe("connector backoff", () => {
  const settings = { backoffInitialMs: 100, backoffMaxMs: 1_000 };

  it("grows exponentially within its jitter band, then stays under the cap", () => {
    for (const random of [() => 0, () => 0.5, () => 0.999]) {
      const delays = [0, 1, 2, 3, 4, 5].map((retry) => backoffDelayMs(retry, settings, random));
      for (let i = 1; i < 4; i++) expect(delays[i]!).toBeGreaterThanOrEqual(delays[i - 1]!);
      expect(delays.every((delay) => delay <= settings.backoffMaxMs)).toBe(true);
    }
    // The n-th wait lies in [c/2, c], c = min(max, initial × 2^n).
    expect(backoffDelayMs(0, settings, () => 0)).toBe(50);
    expect(backoffDelayMs(0, settings, () => 1)).toBe(100);
    expect(backoffDelayMs(3, settings, () => 0)).toBe(400);
    expect(backoffDelayMs(9, settings, () => 1)).toBe(1_000);
  });

  it("waits longer before each retry on the wire", async () => {
    const server = await startServer(answer(503));
    const { connector } = connectorTo(server.url, {
      retry: { attemptsMax: 4, backoffInitialMs: 40, backoffMaxMs: 1_000 },
      random: () => 0.5,
    });
    await connector.request({ method: "GET", path: "/", read: "none" });
    const at = server.requests.map((request) => request.atMs);
    expect(at).toHaveLength(4);
    const gaps = [at[1]! - at[0]!, at[2]! - at[1]!, at[3]! - at[2]!];
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(gaps[2]!).toBeGreaterThan(gaps[1]!);
  });
});

describe("connector circuit breaker", () => {
  it("opens after failuresMax failures, refuses without calling, half-opens and closes again", async () => {
    let healthy = false;
    const seenStates: string[] = [];
    const server = await startServer((request, response) => {
      seenStates.push(connector.state);
      answer(healthy ? 200 : 503)(request, response);
    });
    const { connector } = connectorTo(server.url, {
      retry: { attemptsMax: 1 },
      breaker: { failuresMax: 3, halfOpenAfterMs: 50 },
    });
    const call = () => connector.request({ method: "GET", path: "/", read: "none" });

    for (let i = 0; i < 3; i++) expect((await call()).ok).toBe(false);
    expect(connector.state).toBe("open");
    expect(await call()).toEqual({ ok: false, failure: { code: "circuit-open", retryable: true } });
    expect(server.requests).toHaveLength(3);

    // A failed trial call opens the circuit again.
    await sleep(80);
    expect(await call()).toMatchObject({ ok: false, failure: { code: "unavailable" } });
    expect(connector.state).toBe("open");
    expect(server.requests).toHaveLength(4);

    healthy = true;
    await sleep(80);
    expect(await call()).toMatchObject({ ok: true, value: { status: 200 } });
    expect(connector.state).toBe("closed");
    expect(seenStates.slice(3)).toEqual(["half-open", "half-open"]);
    expect((await call()).ok).toBe(true);
  });

  it("does not count refusals (4xx) as failures of the system", async () => {
    const server = await startServer(answer(404));
    const { connector } = connectorTo(server.url, { breaker: { failuresMax: 1 } });
    for (let i = 0; i < 3; i++) await connector.request({ method: "GET", path: "/", read: "none" });
    expect(connector.state).toBe("closed");
    expect(server.requests).toHaveLength(3);
  });

  it("stops the retries of a call once the circuit opens", async () => {
    const server = await startServer(answer(503));
    const { connector } = connectorTo(server.url, {
      retry: { attemptsMax: 5 },
      breaker: { failuresMax: 2, halfOpenAfterMs: 10_000 },
    });
    expect(await connector.request({ method: "GET", path: "/", read: "none" })).toEqual({
      ok: false,
      failure: { code: "circuit-open", retryable: true },
    });
    expect(server.requests).toHaveLength(2);
  });
});

describe("connector bulkhead", () => {
  it("refuses a call beyond concurrencyMax + queueMax without calling, and runs the queued one", async () => {
    const held: Array<() => void> = [];
    const server = await startServer((request, response) => {
      held.push(() => answer(200)(request, response));
    });
    const { connector } = connectorTo(server.url, { bulkhead: { concurrencyMax: 1, queueMax: 1 } });
    const call = () => connector.request({ method: "GET", path: "/", read: "none" });
    const first = call();
    const queued = call();
    expect(await call()).toEqual({ ok: false, failure: { code: "bulkhead-full", retryable: true } });
    while (held.length === 0) await sleep(5);
    expect(server.requests).toHaveLength(1);
    held.shift()!();
    expect((await first).ok).toBe(true);
    while (held.length === 0) await sleep(5);
    held.shift()!();
    expect((await queued).ok).toBe(true);
    expect(server.requests).toHaveLength(2);
  });
});
