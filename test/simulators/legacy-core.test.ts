import { afterEach, describe, expect, it } from "vitest";
import {
  type LegacyAccount,
  type LegacyCoreSimulator,
  type LegacyCoreSimulatorOptions,
  type LegacyPosting,
  startLegacyCoreSimulator,
} from "../../simulators/legacy-core/server.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { call, seededRandom, timed } from "./simulator-kit.ts";

const running: LegacyCoreSimulator[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((simulator) => simulator.close()));
});

/** A legacy core at 1/1000 of its latency (5 s median becomes 5 ms), with two EUR accounts. */
async function legacyCore(options: LegacyCoreSimulatorOptions = {}): Promise<LegacyCoreSimulator> {
  const simulator = await startLegacyCoreSimulator({
    latencyScale: 0.001,
    latency: { kind: "uniform", minMs: 0, maxMs: 3_000 },
    random: seededRandom(42),
    accounts: [
      { id: "LC00000001", currency: "EUR", ownerRef: "cust-1", bookedMinor: "10000" },
      { id: "LC00000002", currency: "EUR", ownerRef: "cust-2", bookedMinor: "500" },
    ],
    ...options,
  });
  running.push(simulator);
  return simulator;
}

function posting(postingId: string, amountMinor: string, accountId = "LC00000001") {
  return { postingId, accountId, amountMinor, currency: "EUR", reference: `ref ${postingId}` };
}

type Change = Record<string, string | number> & {
  seq: number;
  kind: "posting" | "balance";
  accountId: string;
};

/** Reads the whole feed after `after` in pages of `limit`, as a mirror would. */
async function readFeed(url: string, limit: number, after = 0): Promise<Change[]> {
  const changes: Change[] = [];
  let cursor = after;
  for (let page = 0; page < 10_000; page++) {
    const { status, body } = await call<{ changes: Change[]; nextSeq: number; hasMore: boolean }>(
      `${url}/changes?after=${cursor}&limit=${limit}`,
    );
    expect(status).toBe(200);
    changes.push(...body.changes);
    cursor = body.nextSeq;
    if (!body.hasMore) return changes;
  }
  throw new Error("the feed did not end");
}

/** What a mirror fed only by the change feed believes: balances by account, postings by id. */
function mirrorOf(changes: Change[]) {
  const balances = new Map<string, string>();
  const postings = new Map<string, string>();
  for (const change of changes) {
    if (change.kind === "balance") balances.set(change.accountId, String(change.bookedMinor));
    else postings.set(String(change.postingId), String(change.amountMinor));
  }
  return { balances, postings };
}

interface Export {
  asOf: string;
  lastSeq: number;
  accounts: LegacyAccount[];
  postings: LegacyPosting[];
}

describe("legacy core: accounts and postings", () => {
  it("lists accounts with IBANs and balances as strings of minor units", async () => {
    const simulator = await legacyCore();
    const { status, body } = await call<{ accounts: LegacyAccount[] }>(`${simulator.url}/accounts`);
    expect(status).toBe(200);
    expect(body.accounts).toHaveLength(2);
    expect(body.accounts[0]).toMatchObject({
      id: "LC00000001",
      currency: "EUR",
      bookedMinor: "10000",
      availableMinor: "10000",
    });
    expect(body.accounts[0]?.iban).toMatch(/^DE\d{20}$/);
    const one = await call(`${simulator.url}/accounts/LC00000002`);
    expect(one.body).toMatchObject({ ownerRef: "cust-2", bookedMinor: "500" });
    expect((await call(`${simulator.url}/accounts/LC-nope`)).status).toBe(404);
  });

  it("books a posting once per posting id, and refuses the id with another body", async () => {
    const simulator = await legacyCore();
    const body = posting("p-1", "-2500");
    const [first, second] = await Promise.all([
      call(`${simulator.url}/postings`, "POST", body),
      call(`${simulator.url}/postings`, "POST", body),
    ]);
    const third = await call(`${simulator.url}/postings`, "POST", body);
    for (const answer of [first, second, third]) {
      expect(answer.status).toBe(201);
      expect(answer.body).toMatchObject({ postingId: "p-1", status: "posted", balanceAfterMinor: "7500" });
    }
    expect(simulator.postings()).toHaveLength(1);
    expect(simulator.accounts()[0]).toMatchObject({ bookedMinor: "7500", availableMinor: "7500" });
    const reused = await call(`${simulator.url}/postings`, "POST", posting("p-1", "-2600"));
    expect(reused.status).toBe(409);
    expect(simulator.accounts()[0]?.bookedMinor).toBe("7500");
  });

  it("rejects a debit beyond the available balance, and answers the same rejection for its id", async () => {
    const simulator = await legacyCore();
    const rejected = await call(`${simulator.url}/postings`, "POST", posting("p-big", "-501", "LC00000002"));
    expect(rejected.status).toBe(422);
    expect(rejected.body).toEqual({ postingId: "p-big", status: "rejected", reason: "insufficient_funds" });
    expect(simulator.accounts()[1]?.bookedMinor).toBe("500");
    // Funds arriving later do not change a decided posting.
    await call(`${simulator.url}/postings`, "POST", posting("p-credit", "1000", "LC00000002"));
    const again = await call(`${simulator.url}/postings`, "POST", posting("p-big", "-501", "LC00000002"));
    expect(again.status).toBe(422);
    const exact = await call(`${simulator.url}/postings`, "POST", posting("p-exact", "-1500", "LC00000002"));
    expect(exact.body).toMatchObject({ status: "posted", balanceAfterMinor: "0" });
  });

  it("rejects postings to unknown and closed accounts and in another currency", async () => {
    const simulator = await legacyCore();
    simulator.seedAccounts([{ id: "LC00000009", currency: "EUR", ownerRef: "cust-9", status: "closed" }]);
    const unknown = await call(`${simulator.url}/postings`, "POST", posting("p-u", "100", "LC-nope"));
    const closed = await call(`${simulator.url}/postings`, "POST", posting("p-c", "100", "LC00000009"));
    const currency = await call(`${simulator.url}/postings`, "POST", {
      ...posting("p-x", "100"),
      currency: "USD",
    });
    expect([unknown.body.reason, closed.body.reason, currency.body.reason]).toEqual([
      "unknown_account",
      "account_closed",
      "currency_mismatch",
    ]);
    const invalid = await call(`${simulator.url}/postings`, "POST", {
      ...posting("p-f", "100"),
      amountMinor: 1.5,
    });
    expect(invalid.status).toBe(400);
  });

  it("rejects the next N postings when told to, through the admin endpoint", async () => {
    const simulator = await legacyCore();
    const patched = await call(`${simulator.url}/admin/controls`, "PATCH", {
      rejectNextPostings: 2,
      rejectionReason: "account_closed",
    });
    expect(patched.body).toMatchObject({ rejectNextPostings: 2, rejectionReason: "account_closed" });
    const answers = [];
    for (const id of ["r-1", "r-2", "r-3"])
      answers.push(await call(`${simulator.url}/postings`, "POST", posting(id, "10")));
    expect(answers.map((answer) => answer.status)).toEqual([422, 422, 201]);
    expect((await call(`${simulator.url}/admin/controls`)).body).toMatchObject({ rejectNextPostings: 0 });
    expect((await call(`${simulator.url}/admin/controls`, "PATCH", { nonsense: true })).status).toBe(400);
  });
});

describe("legacy core: change feed and export", () => {
  it("feeds every change once, in a monotonic sequence, however it is paged", async () => {
    const simulator = await legacyCore();
    // Concurrent postings with random latencies complete out of order; the feed must not.
    const bodies = Array.from({ length: 40 }, (_, index) =>
      posting(`f-${index}`, index % 2 === 0 ? "100" : "-50", index % 3 === 0 ? "LC00000002" : "LC00000001"),
    );
    await Promise.all(bodies.map((body) => call(`${simulator.url}/postings`, "POST", body)));
    const changes = await readFeed(simulator.url, 7);
    expect(changes.map((change) => change.seq)).toEqual(changes.map((_, index) => index + 1));
    const posted = changes.filter((change) => change.kind === "posting").map((change) => change.postingId);
    expect(new Set(posted)).toEqual(new Set(simulator.postings().map((entry) => entry.postingId)));
    expect(posted).toHaveLength(40);
    const { balances } = mirrorOf(changes);
    for (const account of simulator.accounts()) expect(balances.get(account.id)).toBe(account.bookedMinor);
    // Reading on from the end finds nothing new, and a later posting shows up after it.
    const last = changes.at(-1)!.seq;
    expect(await readFeed(simulator.url, 100, last)).toEqual([]);
    await call(`${simulator.url}/postings`, "POST", posting("f-late", "1"));
    expect((await readFeed(simulator.url, 100, last)).map((change) => change.seq)).toEqual([
      last + 1,
      last + 2,
    ]);
  });

  it("answers 410 for changes it no longer keeps", async () => {
    const simulator = await legacyCore({ limits: { changesRetainedMax: 5 } });
    for (let index = 0; index < 5; index++)
      await call(`${simulator.url}/postings`, "POST", posting(`t-${index}`, "1"));
    expect((await call(`${simulator.url}/changes?after=0`)).status).toBe(410);
    const tail = await call<{ changes: Change[] }>(`${simulator.url}/changes?after=7`);
    expect(tail.body.changes.map((change) => change.seq)).toEqual([8, 9, 10, 11, 12]);
  });

  it("exports the balances the API shows, the day's postings and the feed position", async () => {
    const simulator = await legacyCore();
    for (let index = 0; index < 6; index++) {
      await call(`${simulator.url}/postings`, "POST", posting(`e-${index}`, String(100 * (index + 1))));
    }
    const exported = await call<Export>(`${simulator.url}/export`);
    expect(exported.status).toBe(200);
    const { body: listed } = await call<{ accounts: LegacyAccount[] }>(`${simulator.url}/accounts`);
    expect(
      exported.body.accounts.map(({ id, bookedMinor, availableMinor }) => ({
        id,
        bookedMinor,
        availableMinor,
      })),
    ).toEqual(
      listed.accounts.map(({ id, bookedMinor, availableMinor }) => ({ id, bookedMinor, availableMinor })),
    );
    expect(exported.body.postings.map((entry) => entry.postingId)).toEqual(
      simulator.postings().map((entry) => entry.postingId),
    );
    const feed = await readFeed(simulator.url, 100);
    expect(exported.body.lastSeq).toBe(feed.at(-1)?.seq);
    expect((await call(`${simulator.url}/export?asOf=yesterday`)).status).toBe(400);
  });

  it("exports the balances as of an earlier time", async () => {
    const clock = new ManualClock(new Date("2026-03-02T10:00:00Z"));
    const simulator = await legacyCore({ clock });
    await call(`${simulator.url}/postings`, "POST", posting("d1-1", "-1000"));
    clock.advance(86_400_000);
    await call(`${simulator.url}/postings`, "POST", posting("d2-1", "-2000"));
    const dayOne = await call<Export>(`${simulator.url}/export?asOf=2026-03-02`);
    expect(dayOne.body.accounts[0]?.bookedMinor).toBe("9000");
    expect(dayOne.body.postings.map((entry) => entry.postingId)).toEqual(["d1-1"]);
    const dayTwo = await call<Export>(`${simulator.url}/export`);
    expect(dayTwo.body.accounts[0]?.bookedMinor).toBe("7000");
    expect(dayTwo.body.postings.map((entry) => entry.postingId)).toEqual(["d2-1"]);
  });

  it("shows planted breaks in the export but not in the feed", async () => {
    const simulator = await legacyCore();
    for (const id of ["b-1", "b-2", "b-3"])
      await call(`${simulator.url}/postings`, "POST", posting(id, "-100"));
    const breaks = [
      { kind: "balance_changed", accountId: "LC00000002", deltaMinor: "-7" },
      { kind: "posting_unfed", accountId: "LC00000001", amountMinor: "-40", postingId: "b-unfed" },
      { kind: "posting_dropped", postingId: "b-1" },
      { kind: "posting_duplicated", postingId: "b-2" },
      { kind: "posting_amount_changed", postingId: "b-3", amountMinor: "-130" },
    ];
    for (const planted of breaks)
      expect((await call(`${simulator.url}/admin/breaks`, "POST", planted)).status).toBe(201);
    expect((await call<{ breaks: unknown[] }>(`${simulator.url}/admin/breaks`)).body.breaks).toHaveLength(5);

    const mirror = mirrorOf(await readFeed(simulator.url, 100));
    const exported = (await call<Export>(`${simulator.url}/export`)).body;
    const exportedPostings = new Map(exported.postings.map((entry) => [entry.postingId, entry.amountMinor]));
    const missingInCore = [...mirror.postings.keys()].filter((id) => !exportedPostings.has(id));
    const missingInMirror = [...exportedPostings.keys()].filter((id) => !mirror.postings.has(id));
    const amountMismatches = [...mirror.postings].filter(
      ([id, amount]) => exportedPostings.has(id) && exportedPostings.get(id) !== amount,
    );
    expect(missingInCore).toEqual(["b-1"]);
    expect(missingInMirror.sort()).toEqual(["b-2~dup1", "b-unfed"]);
    expect(amountMismatches).toEqual([["b-3", "-100"]]);
    // 10000 - 3 × 100 in the mirror; the core moved -40 (unfed), +100 (dropped), -100 (duplicate), -30 (amount).
    expect(mirror.balances.get("LC00000001")).toBe("9700");
    expect(exported.accounts.find((account) => account.id === "LC00000001")?.bookedMinor).toBe("9630");
    expect(mirror.balances.get("LC00000002")).toBe("500");
    expect(exported.accounts.find((account) => account.id === "LC00000002")?.bookedMinor).toBe("493");
    // The export agrees with the core's own API: the break is between the core and the feed.
    expect(simulator.accounts().map((account) => account.bookedMinor)).toEqual(["9630", "493"]);
    expect(
      (await call(`${simulator.url}/admin/breaks`, "POST", { kind: "posting_dropped", postingId: "nope" }))
        .status,
    ).toBe(404);
  });
});

describe("legacy core: faults", () => {
  it("is slow by its latency, scaled", async () => {
    const slow = await legacyCore({ latency: { kind: "fixed", ms: 60_000 } });
    const fast = await legacyCore({ latency: { kind: "fixed", ms: 0 } });
    const slowCall = await timed(() => call(`${slow.url}/accounts`));
    const fastCall = await timed(() => call(`${fast.url}/accounts`));
    expect(slowCall.result.status).toBe(200);
    expect(slowCall.elapsedMs).toBeGreaterThan(fastCall.elapsedMs);
    expect(slowCall.elapsedMs).toBeLessThan(1_000);
  });

  it("refuses while down, keeps its admin endpoint, and books nothing until it recovers", async () => {
    const clock = new ManualClock();
    const simulator = await legacyCore({ clock, outageWindows: [[60_000, 30_000]] });
    expect((await call(`${simulator.url}/postings`, "POST", posting("o-1", "1"))).status).toBe(201);
    clock.advance(60_000);
    const refused = await call(`${simulator.url}/postings`, "POST", posting("o-2", "1"));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("30");
    expect((await call(`${simulator.url}/admin/controls`)).status).toBe(200);
    clock.advance(30_000);
    expect((await call(`${simulator.url}/postings`, "POST", posting("o-2", "1"))).status).toBe(201);

    await call(`${simulator.url}/admin/controls`, "PATCH", { down: true });
    expect((await call(`${simulator.url}/changes`)).status).toBe(503);
    await call(`${simulator.url}/admin/controls`, "PATCH", { down: false, downForMs: 5_000 });
    expect((await call(`${simulator.url}/export`)).status).toBe(503);
    clock.advance(5_000);
    expect((await call(`${simulator.url}/export`)).status).toBe(200);
    expect(simulator.postings().map((entry) => entry.postingId)).toEqual(["o-1", "o-2"]);
  });

  it("fails some calls at its error rate without booking them, and books the retry once", async () => {
    const simulator = await legacyCore({ errorRate: 0.5, latency: { kind: "fixed", ms: 0 } });
    let failures = 0;
    for (let index = 0; index < 20; index++) {
      const body = posting(`err-${index}`, "1");
      let answer = await call(`${simulator.url}/postings`, "POST", body);
      for (let attempt = 0; answer.status === 500 && attempt < 100; attempt++) {
        failures++;
        answer = await call(`${simulator.url}/postings`, "POST", body);
      }
      expect(answer.status).toBe(201);
    }
    expect(failures).toBeGreaterThan(0);
    expect(simulator.postings()).toHaveLength(20);
    expect(simulator.accounts()[0]?.bookedMinor).toBe("10020");
  });
});
