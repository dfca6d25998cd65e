import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ScreeningHitDto } from "../../src/modules/screening/index.ts";
import { systemContext } from "../../src/platform/context.ts";
import { AppError } from "../../src/platform/errors.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { auditRecords, bearer, expectProblem, outboxEvents } from "../identity.helpers.ts";
import { newCustomer, newStaff, type StaffMember } from "../payments/payments.helpers.ts";
import { createScreeningApp, pepFixture, type TinyParty, tinyOfac } from "./screening.helpers.ts";

/**
 * The screening service and the analysts' routes on a real (embedded) database, with small OFAC
 * lists in the published format so that list changes are quick; matching against the whole
 * snapshot is in matching.test.ts, the bundled list's loading at the end of this file.
 */
const context = systemContext("test-onboarding");
const PARTIES: TinyParty[] = [
  {
    entNum: 1001,
    name: "KARIMOV, Rustam Bakhtiyorovich",
    remarks: "DOB 12 Mar 1971; POB Tashkent, Uzbekistan; nationality Uzbekistan.",
    aliases: ["KARIMOV, Rustam"],
  },
  { entNum: 1002, name: "AL-TIKRITI, Farid Hamid", remarks: "DOB 1965; nationality Iraq." },
  { entNum: 1003, name: "EASTERN STAR", type: "vessel" },
];

let app: TestApp;
let analyst: StaffMember;
let investigator: StaffMember;
let admin: StaffMember;
let sequence = 0;

function customerId(): string {
  sequence += 1;
  return `cus_${sequence.toString(16).padStart(32, "0")}`;
}

function screen(id: string, fullName: string, extra: { dateOfBirth?: string; nationality?: string } = {}) {
  return app.services.screening.screenCustomer(undefined, context, { customerId: id, fullName, ...extra });
}

function decide(
  token: string,
  hitId: string,
  action: "false-positive" | "confirm",
  reason = "checked the passport",
) {
  return app.http.inject({
    method: "POST",
    url: `/v1/staff/screening/hits/${hitId}/${action}`,
    headers: bearer(token),
    payload: { reason },
  });
}

async function openQueue(query = ""): Promise<{ items: ScreeningHitDto[]; nextCursor: string | null }> {
  const response = await app.http.inject({
    method: "GET",
    url: `/v1/staff/screening/hits${query}`,
    headers: bearer(analyst.token),
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

beforeAll(async () => {
  app = await createScreeningApp();
  await app.services.screening.loadList(systemContext("test-lists"), tinyOfac(PARTIES));
  await app.services.screening.loadList(systemContext("test-lists"), pepFixture());
  analyst = await newStaff(app, "compliance_analyst");
  investigator = await newStaff(app, "fraud_investigator");
  admin = await newStaff(app, "admin");
});

afterAll(async () => {
  await app?.destroy();
});

describe("screening a customer", () => {
  it("finds a listed name with its date of birth and nationality, stores, audits and publishes it", async () => {
    const id = customerId();
    const result = await screen(id, "Rustam Karimov", { dateOfBirth: "1971-03-12", nationality: "UZ" });
    expect(result).toMatchObject({ status: "hit", pep: false, newHitsCount: 1 });
    expect(result.screeningId).toMatch(/^scr_[0-9a-f]{32}$/);
    const [hit] = result.hits;
    expect(hit).toMatchObject({
      customerId: id,
      listSource: "ofac",
      sourceRef: "1001",
      listedName: "KARIMOV, Rustam Bakhtiyorovich",
      status: "open",
      matchedFields: ["alias", "dob", "country"],
    });
    expect(hit!.id).toMatch(/^sch_[0-9a-f]{32}$/);
    expect(hit!.score).toBeGreaterThanOrEqual(app.config.screening.threshold);
    const [completed] = await outboxEvents(app, "screening.completed", result.screeningId);
    expect(completed!.data).toMatchObject({ customerId: id, status: "hit", hitsCount: 1, newHitsCount: 1 });
    const [found] = await outboxEvents(app, "screening.hit_found", hit!.id);
    expect(found!.data).toMatchObject({
      customerId: id,
      sourceRef: "1001",
      matchedFields: ["alias", "dob", "country"],
    });
    // Events carry ids and scores, never names.
    expect(JSON.stringify(found)).not.toMatch(/karimov/i);
    const audits = await auditRecords(app, "screening.completed");
    expect(audits.some((record) => record.subject_id === id)).toBe(true);
  });

  it("answers clear for a clearly different name, and records the subject for re-screening", async () => {
    const result = await screen(customerId(), "Emma Johnson", {
      dateOfBirth: "1990-01-01",
      nationality: "DE",
    });
    expect(result).toMatchObject({ status: "clear", pep: false, hits: [], newHitsCount: 0 });
  });

  it("flags a politically exposed person without making the screening a sanctions hit", async () => {
    const result = await screen(customerId(), "Helga Sonnenberg Vogt", { dateOfBirth: "1961-04-12" });
    expect(result).toMatchObject({ status: "clear", pep: true });
    expect(result.hits[0]).toMatchObject({
      listSource: "pep",
      sourceRef: "pep-0001",
      position: "Member of the Bundestag",
    });
  });

  it("does not screen customers against vessels", async () => {
    const result = await screen(customerId(), "Eastern Star");
    expect(result.hits.filter((hit) => hit.sourceRef === "1003")).toEqual([]);
  });

  it("does not raise a standing hit twice", async () => {
    const id = customerId();
    const first = await screen(id, "Farid Hamid al-Tikriti");
    const second = await screen(id, "Farid Hamid al-Tikriti");
    expect(second).toMatchObject({ status: "hit", newHitsCount: 0 });
    expect(second.hits.map((hit) => hit.id)).toEqual(first.hits.map((hit) => hit.id));
  });

  it("refuses malformed input", async () => {
    await expect(screen(customerId(), "  ")).rejects.toBeInstanceOf(AppError);
    await expect(screen(customerId(), "Ada Lovelace", { dateOfBirth: "1971-02-30" })).rejects.toThrow(
      /dateOfBirth/,
    );
    await expect(screen(customerId(), "Ada Lovelace", { nationality: "Atlantis" })).rejects.toThrow(
      /nationality/,
    );
  });
});

describe("analysts' decisions", () => {
  it("remembers a false positive for that customer and list entry, not for another customer", async () => {
    const first = customerId();
    const [hit] = (await screen(first, "Rustam Karimov")).hits;
    const response = await decide(analyst.token, hit!.id, "false-positive");
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      id: hit!.id,
      status: "false_positive",
      decisionReason: "checked the passport",
    });
    expect(await screen(first, "Rustam Karimov")).toMatchObject({ status: "clear", hits: [] });
    const other = await screen(customerId(), "Rustam Karimov");
    expect(other.status).toBe("hit");
    expect(other.hits[0]!.sourceRef).toBe("1001");
    const [event] = await outboxEvents(app, "screening.hit_false_positive", hit!.id);
    expect(event).toMatchObject({ actorId: analyst.id, data: { customerId: first, sourceRef: "1001" } });
    const audits = await auditRecords(app, "screening.hit_false_positive");
    expect(audits.find((record) => record.subject_id === hit!.id)).toMatchObject({ actor_id: analyst.id });
  });

  it("confirms a hit; it keeps standing and is decided once only", async () => {
    const id = customerId();
    const [hit] = (await screen(id, "Farid al-Tikriti")).hits;
    const confirmed = await decide(admin.token, hit!.id, "confirm", "same person, same date of birth");
    expect(confirmed.statusCode, confirmed.body).toBe(200);
    expect(confirmed.json()).toMatchObject({ status: "confirmed", decidedBy: admin.id });
    const again = await screen(id, "Farid al-Tikriti");
    expect(again).toMatchObject({ status: "hit", newHitsCount: 0 });
    expect(again.hits[0]).toMatchObject({ id: hit!.id, status: "confirmed" });
    expectProblem(await decide(analyst.token, hit!.id, "false-positive"), 409, "conflict");
    expect((await outboxEvents(app, "screening.hit_confirmed", hit!.id)).length).toBe(1);
  });

  it("lists open hits oldest first, in pages", async () => {
    for (let index = 0; index < 3; index++) await screen(customerId(), "Rustam Karimov");
    const firstPage = await openQueue("?limit=2");
    expect(firstPage.items).toHaveLength(2);
    expect(firstPage.nextCursor).not.toBeNull();
    expect(firstPage.items.every((hit) => hit.status === "open")).toBe(true);
    const secondPage = await openQueue(`?limit=2&cursor=${firstPage.nextCursor}`);
    expect(secondPage.items[0]!.id > firstPage.items[1]!.id).toBe(true);
  });

  it("answers 404 for a hit that does not exist and 400 without a reason", async () => {
    const missing = `sch_${"0f".repeat(16)}`;
    expectProblem(await decide(analyst.token, missing, "confirm"), 404, "not-found");
    expectProblem(await decide(analyst.token, missing, "confirm", ""), 400, "validation");
  });
});

describe("who may decide", () => {
  it("lets compliance analysts and admins in, and refuses investigators (403), customers and strangers (401)", async () => {
    const call = (headers: Record<string, string>) =>
      app.http.inject({ method: "GET", url: "/v1/staff/screening/hits", headers });
    expect((await call(bearer(analyst.token))).statusCode).toBe(200);
    expect((await call(bearer(admin.token))).statusCode).toBe(200);
    expectProblem(await call(bearer(investigator.token)), 403, "forbidden");
    const customer = await newCustomer(app);
    expectProblem(await call(bearer(customer.token)), 401, "unauthorized");
    expectProblem(await call({}), 401, "unauthorized");
    const [hit] = (await screen(customerId(), "Rustam Karimov")).hits;
    expectProblem(await decide(investigator.token, hit!.id, "false-positive"), 403, "forbidden");
    expectProblem(await decide(customer.token, hit!.id, "confirm"), 401, "unauthorized");
  });
});

describe("list changes", () => {
  it("re-screens every recorded customer and finds one newly listed; the same content again is a no-op", async () => {
    const newlyListed = customerId();
    expect((await screen(newlyListed, "Viktor Petrenko-Lys", { dateOfBirth: "1979-09-09" })).status).toBe(
      "clear",
    );
    const dismissed = customerId();
    const [fpHit] = (await screen(dismissed, "Rustam Karimov")).hits;
    expect((await decide(analyst.token, fpHit!.id, "false-positive")).statusCode).toBe(200);

    const updated = tinyOfac([
      ...PARTIES,
      {
        entNum: 1004,
        name: "PETRENKO-LYS, Viktor Ivanovych",
        remarks: "DOB 09 Sep 1979; nationality Ukraine.",
      },
    ]);
    const loaded = await app.services.screening.loadList(systemContext("test-lists"), updated);
    expect(loaded).toMatchObject({ created: true, source: "ofac", entriesCount: 4 });
    expect(loaded.rescreened.subjectsCount).toBeGreaterThanOrEqual(10);
    expect(loaded.rescreened.newHitsCount).toBe(1);
    const [listUpdated] = await outboxEvents(app, "screening.list_updated", loaded.listVersionId);
    expect(listUpdated!.data).toMatchObject({ source: "ofac", entriesCount: 4, checksum: updated.checksum });

    const queue = await openQueue("?limit=100");
    const found = queue.items.find((hit) => hit.customerId === newlyListed);
    expect(found).toMatchObject({
      sourceRef: "1004",
      listVersionId: loaded.listVersionId,
      matchedFields: ["name", "dob"],
    });
    expect(queue.items.filter((hit) => hit.customerId === dismissed)).toEqual([]);
    const hits = await app.services.screening.hitsForCustomer(newlyListed);
    expect(hits).toHaveLength(1);

    const again = await app.services.screening.loadList(systemContext("test-lists"), updated);
    expect(again).toMatchObject({
      created: false,
      listVersionId: loaded.listVersionId,
      rescreened: { subjectsCount: 0 },
    });
    expect(
      (await app.services.screening.indexes()).find((index) => index.source === "ofac")?.listVersionId,
    ).toBe(loaded.listVersionId);
  });
});

describe("the bundled OFAC snapshot", () => {
  it("is loaded once, on first use, and screened against with every name and alias", async () => {
    const bundled = await createScreeningApp({ OMNICORE_SCREENING_BUNDLED_LIST: "on" });
    try {
      const hits = await bundled.services.screening.screen({
        fullName: "Osama bin Laden",
        dateOfBirth: "1957-07-30",
      });
      expect(hits[0]).toMatchObject({ listSource: "ofac", sourceRef: "6365" });
      await bundled.services.screening.ensureBundledList();
      const [index] = await bundled.services.screening.indexes();
      expect(index!.namesCount).toBeGreaterThan(20_000);
      const versions = await bundled.database.db.selectFrom("screening_list_versions").selectAll().execute();
      expect(versions).toHaveLength(1);
      expect(versions[0]).toMatchObject({ source: "ofac", entries_count: 8_976 });
    } finally {
      await bundled.destroy();
    }
  });
});
