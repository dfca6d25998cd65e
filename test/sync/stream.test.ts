import { type IncomingMessage, request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeSyncCursor } from "../../src/modules/sync/index.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import { waitFor } from "../platform/wait.ts";
import { fundedCustomer, type SyncCustomer, sendTransfer, syncAll, waitForEntry } from "./sync.helpers.ts";

interface StreamEvent {
  id: string;
  event: string;
  data: { seq: string; kind: string; op: string; data: Record<string, unknown> };
}

/** An open event stream read with node:http: parsed events as they arrive, and comment lines. */
interface OpenStream {
  response: IncomingMessage;
  events: StreamEvent[];
  comments: number;
  ended: boolean;
  close(): void;
}

function openStream(baseUrl: string, token: string, lastEventId?: string): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const url = new URL("/v1/events/stream", baseUrl);
    const outgoing = request(url, {
      headers: {
        ...bearer(token),
        accept: "text/event-stream",
        ...(lastEventId ? { "last-event-id": lastEventId } : {}),
      },
    });
    outgoing.on("error", reject);
    outgoing.on("response", (response) => {
      const stream: OpenStream = {
        response,
        events: [],
        comments: 0,
        ended: false,
        close: () => outgoing.destroy(),
      };
      let buffer = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) stream.comments++;
            const colon = line.indexOf(":");
            if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
          }
          if (fields.id && fields.data) {
            stream.events.push({ id: fields.id, event: fields.event ?? "", data: JSON.parse(fields.data) });
          }
        }
      });
      response.on("end", () => {
        stream.ended = true;
      });
      response.on("close", () => {
        stream.ended = true;
      });
      resolve(stream);
    });
    outgoing.end();
  });
}

let app: TestApp;
let baseUrl: string;
let alice: SyncCustomer;
let bob: SyncCustomer;

beforeAll(async () => {
  app = await createTestApp({
    env: {
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000",
      OMNICORE_SSE_HEARTBEAT_S: "1",
      OMNICORE_SSE_CONNECTIONS_PER_CUSTOMER_MAX: "2",
    },
  });
  baseUrl = await app.listen();
  alice = await fundedCustomer(app, "alice-phone");
  bob = await fundedCustomer(app, "bob-phone");
  await waitForEntry(app, alice.token, encodeSyncCursor(0n), (item) => item.kind === "transaction");
});

afterAll(async () => {
  await app?.destroy();
});

describe("GET /v1/events/stream", () => {
  it("delivers a new transfer's entries, then resumes after Last-Event-ID without gaps or duplicates", async () => {
    const stream = await openStream(baseUrl, alice.token);
    expect(stream.response.statusCode).toBe(200);
    expect(stream.response.headers["content-type"]).toMatch(/^text\/event-stream/);
    const first = await sendTransfer(app, alice, bob.account.iban, "3.00");
    await waitFor(
      () => stream.events.some((event) => event.data.data.id === first.id),
      400,
      25,
      "live entry",
    );
    const transferEvent = stream.events.find((event) => event.data.data.id === first.id)!;
    expect(transferEvent.event).toBe("transfer");
    expect(transferEvent.id).toBe(transferEvent.data.seq);
    const lastSeen = stream.events.at(-1)!.id;
    stream.close();
    await waitFor(() => app.services.sync.streams.size === 0, 400, 25, "stream cleaned up");

    // Missed while disconnected: two transfers, one of them to Alice.
    const second = await sendTransfer(app, alice, bob.account.iban, "4.00");
    const third = await sendTransfer(app, bob, alice.account.iban, "5.00");
    const log = await waitForEntry(
      app,
      alice.token,
      encodeSyncCursor(BigInt(lastSeen)),
      (item) => item.kind === "transaction" && item.data.transferId === third.id,
    );
    const resumed = await openStream(baseUrl, alice.token, lastSeen);
    await waitFor(
      () => resumed.events.some((event) => event.data.data.transferId === third.id),
      400,
      25,
      "replayed entries",
    );
    const seqs = resumed.events.map((event) => BigInt(event.id));
    expect(seqs.every((seq) => seq > BigInt(lastSeen))).toBe(true);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect([...seqs].sort((a, b) => (a < b ? -1 : 1))).toEqual(seqs);
    expect(resumed.events.some((event) => event.data.data.id === second.id)).toBe(true);
    // The stream is the uncompacted log: every entry the sync pages cover, none skipped.
    const logSeqs = new Set(log.map((item) => item.seq));
    for (const seq of logSeqs) expect(seqs.map(String)).toContain(seq);
    // Nothing of Bob's own.
    expect(resumed.events.some((event) => event.data.data.id === bob.account.id)).toBe(false);
    resumed.close();
  });

  it("sends heartbeats as comment lines", async () => {
    const stream = await openStream(baseUrl, bob.token);
    await waitFor(() => stream.comments > 0, 400, 25, "heartbeat");
    stream.close();
  });

  it("ends a stream at the next heartbeat once its session is revoked, and keeps another session's open", async () => {
    const carol = await fundedCustomer(app, "carol-phone");
    const revoked = await openStream(baseUrl, carol.token);
    const other = await openStream(baseUrl, alice.token);
    await waitFor(() => revoked.comments > 0, 400, 25, "a first heartbeat");
    const logout = await app.http.inject({
      method: "POST",
      url: "/v1/auth/logout",
      headers: bearer(carol.token),
    });
    expect(logout.statusCode).toBe(204);
    await waitFor(() => revoked.ended, 400, 25, "the revoked session's stream ended");
    const heartbeats = other.comments;
    await waitFor(() => other.comments > heartbeats, 400, 25, "the other stream's next heartbeat");
    expect(other.ended).toBe(false);
    other.close();
  });

  it("bounds the streams per customer, answers 401 without a token and 400 to a malformed Last-Event-ID", async () => {
    await waitFor(() => app.services.sync.streams.size === 0, 400, 25, "earlier streams closed");
    const one = await openStream(baseUrl, bob.token);
    const two = await openStream(baseUrl, bob.token);
    const three = await app.http.inject({
      method: "GET",
      url: "/v1/events/stream",
      headers: bearer(bob.token),
    });
    expectProblem(three, 429, "rate-limited");
    one.close();
    two.close();
    expectProblem(await app.http.inject({ method: "GET", url: "/v1/events/stream" }), 401, "unauthorized");
    for (const lastEventId of ["abc", "9999999999999999999"]) {
      const malformed = await app.http.inject({
        method: "GET",
        url: "/v1/events/stream",
        headers: { ...bearer(bob.token), "last-event-id": lastEventId },
      });
      expectProblem(malformed, 400, "validation");
    }
  });

  it("ends open streams cleanly when the app closes", async () => {
    const other = await createTestApp({ env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000" } });
    const url = await other.listen();
    const carol = await fundedCustomer(other, "carol-phone");
    const stream = await openStream(url, carol.token);
    expect(other.services.sync.streams.size).toBe(1);
    await other.destroy();
    await waitFor(() => stream.ended, 400, 25, "stream ended by close");
    expect(other.services.sync.streams.size).toBe(0);
    expect((await syncAll(app, alice.token, encodeSyncCursor(0n))).items.length).toBeGreaterThan(0);
  });

  it("ends a stream at the first heartbeat after its access token expired", async () => {
    let offsetMs = 0;
    const shifted = await createTestApp({
      clock: { now: () => new Date(Date.now() + offsetMs) },
      env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "10000", OMNICORE_SSE_HEARTBEAT_S: "1" },
    });
    try {
      const url = await shifted.listen();
      const dave = await fundedCustomer(shifted, "dave-phone");
      const stream = await openStream(url, dave.token);
      await waitFor(() => stream.comments > 0, 400, 25, "a heartbeat while the token is valid");
      expect(stream.ended).toBe(false);
      // Past the access token's lifetime (at most 600 s): the session lives on, the token does not.
      offsetMs = 601_000;
      await waitFor(() => stream.ended, 400, 25, "the stream ended with its token");
      expect(shifted.services.sync.streams.size).toBe(0);
    } finally {
      await shifted.destroy();
    }
  });
});
