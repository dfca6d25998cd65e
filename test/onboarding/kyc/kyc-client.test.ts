import { afterEach, describe, expect, it } from "vitest";
import { KycClient } from "../../../src/modules/onboarding/kyc/index.ts";
import { cleanUp, clientFor, startProvider, startReceiver, verificationRequest } from "./kyc-test-kit.ts";

afterEach(cleanUp);

/** A fetch in front of the real one that counts the attempts reaching the simulator. */
function counting() {
  const counter = { calls: 0 };
  const fetch: typeof globalThis.fetch = (input, init) => {
    counter.calls++;
    return globalThis.fetch(input, init);
  };
  return { counter, fetch };
}

describe("KycClient: retries and circuit breaker against the simulator", () => {
  it("retries a 503 and succeeds on a later attempt, without a second verification", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider({ controls: { failNextRequests: 2 } });
    const { counter, fetch } = counting();
    const result = await clientFor(provider, { attemptsMax: 3, fetch }).submitVerification(
      verificationRequest(receiver.url),
    );
    expect(result.ok).toBe(true);
    expect(counter.calls).toBe(3);
    expect(provider.verifications()).toHaveLength(1);
  });

  it("gives up after attemptsMax and calls the failure retryable", async () => {
    const { provider } = await startProvider({ controls: { failureRate: 1 } });
    const { counter, fetch } = counting();
    const client = clientFor(provider, { attemptsMax: 3, breakerFailuresMax: 100, fetch });
    expect(await client.getVerification("kyv_any")).toEqual({
      ok: false,
      failure: { code: "unavailable", retryable: true, status: 503 },
    });
    expect(counter.calls).toBe(3);
  });

  it("opens the circuit after breakerFailuresMax failures, then stops calling the provider", async () => {
    const receiver = await startReceiver();
    const { provider } = await startProvider({ controls: { failureRate: 1 } });
    const { counter, fetch } = counting();
    const client = clientFor(provider, {
      attemptsMax: 2,
      breakerFailuresMax: 3,
      breakerHalfOpenAfterMs: 100,
      fetch,
    });
    const request = verificationRequest(receiver.url);
    expect((await client.submitVerification(request)).ok).toBe(false);
    expect(client.circuitState()).toBe("closed");
    // The third failure opens the circuit; the retry after it is refused without a call.
    expect(await client.submitVerification(request)).toEqual({
      ok: false,
      failure: { code: "circuit-open", retryable: true },
    });
    expect(counter.calls).toBe(3);
    expect(client.circuitState()).toBe("open");
    expect(await client.getVerification("kyv_any")).toMatchObject({
      ok: false,
      failure: { code: "circuit-open" },
    });
    expect(counter.calls).toBe(3);

    // Once the provider recovers, the half-open trial call closes the circuit again.
    provider.controls({ failureRate: 0 });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await client.submitVerification(request)).ok).toBe(true);
    expect(client.circuitState()).toBe("closed");
  });

  it("does not retry or count a final 4xx", async () => {
    const { provider } = await startProvider();
    const { counter, fetch } = counting();
    const client = clientFor(provider, { apiKey: "wrong", breakerFailuresMax: 1, fetch });
    for (let i = 0; i < 3; i++) {
      expect(await client.getVerification("kyv_any")).toMatchObject({
        ok: false,
        failure: { code: "unauthorized" },
      });
    }
    expect(counter.calls).toBe(3);
    expect(client.circuitState()).toBe("closed");
  });
});

describe("KycClient: transport failures", () => {
  const request = verificationRequest("http://127.0.0.1:1/callbacks");

  it("calls a provider that cannot be reached a retryable network failure", async () => {
    let calls = 0;
    const fetch: typeof globalThis.fetch = async () => {
      calls++;
      throw new TypeError("fetch failed");
    };
    const client = new KycClient({
      baseUrl: "http://kyc.test",
      apiKey: "k",
      timeoutMs: 1_000,
      retryBackoffMs: 1,
      fetch,
    });
    expect(await client.submitVerification(request)).toEqual({
      ok: false,
      failure: { code: "network", retryable: true },
    });
    expect(calls).toBe(3);
  });

  it("times out an attempt after timeoutMs and retries it", async () => {
    let calls = 0;
    // A provider that never answers; only the client's timeout ends the wait.
    const fetch: typeof globalThis.fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        calls++;
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    const client = new KycClient({
      baseUrl: "http://kyc.test",
      apiKey: "k",
      timeoutMs: 20,
      attemptsMax: 2,
      retryBackoffMs: 1,
      fetch,
    });
    expect(await client.getVerification("kyv_1")).toEqual({
      ok: false,
      failure: { code: "timeout", retryable: true },
    });
    expect(calls).toBe(2);
  });

  it("refuses a 2xx whose body breaks the contract", async () => {
    const fetch: typeof globalThis.fetch = async () =>
      new Response(JSON.stringify({ verificationId: "kyv_1", status: "maybe" }), { status: 200 });
    const client = new KycClient({ baseUrl: "http://kyc.test", apiKey: "k", timeoutMs: 1_000, fetch });
    expect(await client.getVerification("kyv_1")).toEqual({
      ok: false,
      failure: { code: "invalid-response", retryable: false, status: 200 },
    });
  });

  it("sends the API key, JSON and the reference as Idempotency-Key, and no personal data in the URL", async () => {
    const seen: Array<{ url: string; headers: Headers; body: unknown }> = [];
    const fetch: typeof globalThis.fetch = async (input, init) => {
      seen.push({ url: String(input), headers: new Headers(init?.headers), body: init?.body });
      return new Response(JSON.stringify({ verificationId: "kyv_1", status: "pending" }), { status: 202 });
    };
    const client = new KycClient({
      baseUrl: "http://kyc.test/",
      apiKey: "secret-key",
      timeoutMs: 1_000,
      fetch,
    });
    expect(await client.submitVerification(request)).toEqual({ ok: true, verificationId: "kyv_1" });
    expect(seen[0]?.url).toBe("http://kyc.test/v1/verifications");
    expect(seen[0]?.headers.get("x-api-key")).toBe("secret-key");
    expect(seen[0]?.headers.get("content-type")).toBe("application/json");
    expect(seen[0]?.headers.get("idempotency-key")).toBe(request.reference);
    expect(JSON.parse(String(seen[0]?.body))).toEqual(request);
  });
});
