import { describe, expect, it } from "vitest";
import { RailClient } from "../../../src/modules/payments/rail/rail.client.ts";

interface SeenRequest {
  url: string;
  method: string | undefined;
  headers: Headers;
  body: unknown;
}

/** A fetch that answers every request with `status` and records what it was asked. */
function answering(status: number) {
  const seen: SeenRequest[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    seen.push({
      url: String(input),
      method: init?.method,
      headers: new Headers(init?.headers),
      body: init?.body,
    });
    return new Response(status === 204 ? null : "{}", { status });
  };
  return { fetch, seen };
}

function client(fetch: typeof globalThis.fetch, timeoutMs = 5_000): RailClient {
  return new RailClient({ baseUrl: "http://rail.test/", timeoutMs, fetch });
}

describe("RailClient.submitCreditTransfer", () => {
  it("POSTs the XML to /v1/pacs008 with its Idempotency-Key", async () => {
    const { fetch, seen } = answering(202);
    const result = await client(fetch).submitCreditTransfer("<Document/>", "trf_1");
    expect(result).toEqual({ accepted: true, status: 202 });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toBe("http://rail.test/v1/pacs008");
    expect(seen[0]?.method).toBe("POST");
    expect(seen[0]?.headers.get("content-type")).toBe("application/xml");
    expect(seen[0]?.headers.get("idempotency-key")).toBe("trf_1");
    expect(seen[0]?.body).toBe("<Document/>");
  });

  it.each([200, 201, 204])("counts %i as accepted", async (status) => {
    expect(await client(answering(status).fetch).submitCreditTransfer("<x/>", "k")).toEqual({
      accepted: true,
      status,
    });
  });

  it.each([500, 502, 503, 504, 408, 429])("calls %i retryable", async (status) => {
    const result = await client(answering(status).fetch).submitCreditTransfer("<x/>", "k");
    expect(result).toEqual({ accepted: false, retryable: true, reason: "unavailable", status });
  });

  it.each([400, 401, 403, 404, 409, 413, 422])("calls %i final", async (status) => {
    const result = await client(answering(status).fetch).submitCreditTransfer("<x/>", "k");
    expect(result).toEqual({ accepted: false, retryable: false, reason: "rejected", status });
  });

  it("calls a network failure retryable", async () => {
    const fetch: typeof globalThis.fetch = async () => {
      throw new TypeError("fetch failed");
    };
    expect(await client(fetch).submitCreditTransfer("<x/>", "k")).toEqual({
      accepted: false,
      retryable: true,
      reason: "network",
    });
  });

  it("gives up after timeoutMs and calls it retryable", async () => {
    // A rail that never answers; only the client's own timeout signal ends the wait.
    const fetch: typeof globalThis.fetch = (_input, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
      });
    expect(await client(fetch, 20).submitCreditTransfer("<x/>", "k")).toEqual({
      accepted: false,
      retryable: true,
      reason: "timeout",
    });
  });

  it("refuses to send without an Idempotency-Key", async () => {
    await expect(client(answering(202).fetch).submitCreditTransfer("<x/>", "")).rejects.toThrow();
  });
});
