import { describe, expect, it } from "vitest";
import { backoffDelayMs, DEFAULT_RETRY_POLICY, isIdempotent, OmnicoreClient } from "../src/index.ts";

/** Retries, with a scripted fetch: which requests are sent again, and how the delays grow. */

function scriptedFetch(statuses: number[]) {
  const seen: string[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    seen.push(`${init?.method ?? "GET"} ${new URL(String(input)).pathname}`);
    const status = statuses.shift() ?? 200;
    if (status === 0) throw new TypeError("fetch failed");
    return new Response(JSON.stringify(status === 200 ? { items: [] } : { type: "about:blank", status }), {
      status,
      headers: { "content-type": "application/json" },
    });
  };
  return { fetchImpl, seen };
}

async function client(statuses: number[]) {
  const { fetchImpl, seen } = scriptedFetch(statuses);
  const delays: number[] = [];
  const sdk = await OmnicoreClient.create({
    baseUrl: "http://bank.test",
    fetch: fetchImpl,
    scheduler: { sleep: async (ms) => void delays.push(ms), random: () => 0.999, now: () => 0 },
  });
  await sdk.tokens.accept({ accessToken: "a", refreshToken: "r", expiresIn: 3600 });
  return { sdk, seen, delays };
}

describe("retries", () => {
  it("backs off exponentially with full jitter, capped", () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect([0, 1, 2, 3, 4, 5].map((attempt) => backoffDelayMs(policy, attempt, () => 0.999))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(backoffDelayMs(policy, 3, () => 0)).toBe(0);
  });

  it("treats reads and keyed commands as idempotent, nothing else", () => {
    expect(isIdempotent("GET", new Headers())).toBe(true);
    expect(isIdempotent("POST", new Headers({ "idempotency-key": "k-12345678" }))).toBe(true);
    expect(isIdempotent("POST", new Headers())).toBe(false);
    expect(isIdempotent("DELETE", new Headers())).toBe(false);
  });

  it("retries a GET through network errors and 503s", async () => {
    const { sdk, seen, delays } = await client([0, 503, 0, 200]);
    const { response } = await sdk.api.GET("/v1/accounts");
    expect(response.status).toBe(200);
    expect(seen).toHaveLength(4);
    expect(delays).toEqual([199, 399, 799]);
  });

  it("sends a POST without an Idempotency-Key once, whatever happens", async () => {
    const { sdk, seen } = await client([503, 200]);
    const { response } = await sdk.api.POST("/v1/accounts", { body: { type: "current", currency: "EUR" } });
    expect(response.status).toBe(503);
    expect(seen).toEqual(["POST /v1/accounts"]);
  });

  it("retries a money-moving command with its persisted key until it gets an answer", async () => {
    const { sdk, seen } = await client([0, 502, 201]);
    const queued = await sdk.transfer({
      fromAccountId: `acc_${"1".repeat(32)}`,
      toIban: "DE89370400440532013000",
      amount: { amount: "1.00", currency: "EUR" },
    });
    expect(queued.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    await sdk.flush();
    expect(seen).toEqual(["POST /v1/transfers", "POST /v1/transfers", "POST /v1/transfers"]);
    expect(await sdk.outbox.list()).toEqual([]);
  });
});
