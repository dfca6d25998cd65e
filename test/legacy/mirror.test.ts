import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LegacyCoreSimulator, startLegacyCoreSimulator } from "../../simulators/legacy-core/server.ts";
import { createTestApp, type TestApp, usingPostgres } from "../helpers/test-app.ts";
import { bearer } from "../identity.helpers.ts";
import { newCustomer, newStaff } from "../payments/payments.helpers.ts";
import { corePosting, dataDir, legacyApp, legacyCustomer, legacyEnv, startCore } from "./legacy.helpers.ts";

let core: LegacyCoreSimulator;

beforeAll(async () => {
  core = await startCore();
});

afterAll(async () => {
  await core?.close();
});

async function mirroredPostings(app: TestApp, legacyAccountId: string) {
  return app.database.db
    .selectFrom("legacy_transactions")
    .select(["posting_id", "amount_minor"])
    .where("legacy_account_id", "=", legacyAccountId)
    .execute();
}

describe("mirror ingestion", () => {
  it.skipIf(usingPostgres)(
    "neither loses nor repeats a change across a restart half-way through the feed",
    async () => {
      const directory = dataDir();
      // The feed is read by hand here, three small pages, then the node stops.
      const env = legacyEnv(core, {
        OMNICORE_DATA_DIR: directory,
        OMNICORE_LEGACY_FEED_INTERVAL_MS: "0",
        OMNICORE_LEGACY_FEED_PAGE_MAX: "4",
      });
      let app = await createTestApp({ env });
      const customer = await newCustomer(app);
      const [account] = core.seedAccounts([
        { currency: "EUR", ownerRef: customer.customerId, bookedMinor: "0" },
      ]);
      for (let index = 1; index <= 20; index++)
        await corePosting(core, account!.id, `ext-${account!.id}-${index}`, "100");
      await app.services.legacy.mirror.catchUp(1_000);
      const before = (await app.services.legacy.mirror.checkpoint()).last_seq;
      for (let index = 21; index <= 40; index++)
        await corePosting(core, account!.id, `ext-${account!.id}-${index}`, "100");
      for (let page = 0; page < 3; page++) await app.services.legacy.mirror.ingestOnce();
      const midway = (await mirroredPostings(app, account!.id)).length;
      expect(midway).toBeGreaterThan(20);
      expect(midway).toBeLessThan(40);
      expect(Number((await app.services.legacy.mirror.checkpoint()).last_seq)).toBe(Number(before) + 12);
      await app.close();

      app = await createTestApp({ env });
      try {
        await app.services.legacy.mirror.catchUp(1_000);
        const postings = await mirroredPostings(app, account!.id);
        expect(postings).toHaveLength(40);
        expect(new Set(postings.map((posting) => posting.posting_id)).size).toBe(40);
        const mirrored = await app.database.db
          .selectFrom("legacy_accounts")
          .select(["booked_minor", "available_minor"])
          .where("legacy_account_id", "=", account!.id)
          .executeTakeFirstOrThrow();
        expect(BigInt(mirrored.booked_minor)).toBe(4000n);
        const inCore = core.accounts().find((candidate) => candidate.id === account!.id)!;
        expect(BigInt(mirrored.available_minor)).toBe(BigInt(inCore.availableMinor));
      } finally {
        await app.close();
      }
    },
  );

  it("resyncs from the end-of-day export when the feed no longer holds its checkpoint (410)", async () => {
    // A core that keeps only its last 10 changes: a node that was away for longer finds 410.
    const forgetful = await startLegacyCoreSimulator({
      latencyScale: 0.001,
      limits: { changesRetainedMax: 10 },
      onError: () => undefined,
    });
    const app = await legacyApp(forgetful, { OMNICORE_LEGACY_FEED_INTERVAL_MS: "0" });
    try {
      const customer = await newCustomer(app);
      const [account] = forgetful.seedAccounts([
        { currency: "EUR", ownerRef: customer.customerId, bookedMinor: "0" },
      ]);
      await app.services.legacy.mirror.catchUp(100);
      for (let index = 1; index <= 15; index++)
        await corePosting(forgetful, account!.id, `away-${account!.id}-${index}`, "100");
      const gone = await app.services.legacy.mirror.ingestOnce();
      expect(gone.skipped).toBe("resynced");
      await app.services.legacy.mirror.catchUp(100);
      const mirrored = await app.database.db
        .selectFrom("legacy_accounts")
        .select(["booked_minor", "available_minor"])
        .where("legacy_account_id", "=", account!.id)
        .executeTakeFirstOrThrow();
      expect(BigInt(mirrored.booked_minor)).toBe(1_500n);
      expect(BigInt(mirrored.available_minor)).toBe(1_500n);
      const report = await app.services.legacy.reconcile();
      expect(report?.breaksCount).toBe(0);
    } finally {
      await app.destroy();
      await forgetful.close();
    }
  });

  it("applies a page once when two nodes read it at the same time", async () => {
    const app = await legacyApp(core, { OMNICORE_LEGACY_FEED_INTERVAL_MS: "0" });
    try {
      const customer = await newCustomer(app);
      const [account] = core.seedAccounts([{ currency: "EUR", ownerRef: customer.customerId }]);
      for (let index = 1; index <= 5; index++)
        await corePosting(core, account!.id, `race-${account!.id}-${index}`, "7");
      await Promise.all([
        app.services.legacy.mirror.catchUp(1_000),
        app.services.legacy.mirror.catchUp(1_000),
      ]);
      expect(await mirroredPostings(app, account!.id)).toHaveLength(5);
    } finally {
      await app.destroy();
    }
  });
});

describe("reconciliation", () => {
  it("reports zero breaks on a clean run, and finds a planted break of each kind", async () => {
    const app = await legacyApp(core);
    try {
      const holder = await legacyCustomer(app, core, "50000");
      for (let index = 1; index <= 3; index++)
        await corePosting(core, holder.legacyAccountId, `rec-${holder.legacyAccountId}-${index}`, "250");
      const clean = await app.services.legacy.reconcile();
      expect(clean?.status).toBe("completed");
      expect(clean?.breaks).toEqual([]);
      expect(clean?.postingsMatched).toBeGreaterThanOrEqual(3);

      const id = holder.legacyAccountId;
      core.plantBreak({ kind: "posting_unfed", accountId: id, amountMinor: "999", postingId: `unfed-${id}` });
      core.plantBreak({ kind: "posting_dropped", postingId: `rec-${id}-1` });
      core.plantBreak({ kind: "posting_amount_changed", postingId: `rec-${id}-2`, amountMinor: "260" });
      const found = await app.services.legacy.reconcile();
      const kinds = found!.breaks
        .filter((row) => row.legacyAccountId === id)
        .map((row) => `${row.kind}:${row.postingId}`);
      expect(kinds.sort()).toEqual(
        [
          `amount_mismatch:rec-${id}-2`,
          "balance_mismatch:null",
          `missing_in_core:rec-${id}-1`,
          `missing_in_mirror:unfed-${id}`,
        ].sort(),
      );
      const alerts = await app.database.db
        .selectFrom("legacy_reconciliation_breaks")
        .select("id")
        .where("run_id", "=", found!.runId)
        .execute();
      expect(alerts).toHaveLength(found!.breaksCount);

      const analyst = await newStaff(app, "compliance_analyst");
      const report = await app.http.inject({
        method: "GET",
        url: "/v1/staff/legacy/reconciliation/latest",
        headers: bearer(analyst.token),
      });
      expect(report.statusCode, report.body).toBe(200);
      expect(report.json<{ runId: string; breaksCount: number }>()).toMatchObject({
        runId: found!.runId,
        breaksCount: found!.breaksCount,
      });
      const teller = await newStaff(app, "teller");
      const refused = await app.http.inject({
        method: "GET",
        url: "/v1/staff/legacy/reconciliation/latest",
        headers: bearer(teller.token),
      });
      expect(refused.statusCode).toBe(403);
    } finally {
      await app.destroy();
    }
  });
});
