import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AmlTables } from "../../src/modules/aml/aml.tables.ts";
import type { DomainEvent } from "../../src/platform/events/event.ts";
import { findOutboxEvents } from "../../src/platform/events/outbox.ts";
import type { TestApp } from "../helpers/test-app.ts";
import {
  caseOf,
  contextOf,
  createAmlApp,
  depositAll,
  fakeId,
  holder,
  publish,
  type SignedInStaff,
  staff,
} from "./aml.helpers.ts";

/**
 * Delivery is at least once: an event delivered again (the same envelope) or published again
 * under a new envelope (an operator's replay) must not count the money twice nor raise a second
 * alert, because the event id and the movement are both recorded in the handler's transaction.
 */

let app: TestApp;
let teller: SignedInStaff;
let analyst: SignedInStaff;

beforeAll(async () => {
  app = await createAmlApp();
  teller = await staff(app, "teller");
  analyst = await staff(app, "compliance_analyst");
});

afterAll(async () => {
  await app?.destroy();
});

function amlDb(): Kysely<AmlTables> {
  return app.database.db as unknown as Kysely<AmlTables>;
}

async function state(customerId: string) {
  const movements = await amlDb()
    .selectFrom("aml_movements")
    .select(["transaction_id", "amount_minor"])
    .where("customer_id", "=", customerId)
    .execute();
  const volumes = await amlDb()
    .selectFrom("aml_daily_volumes")
    .select(["volume_minor", "movements_count"])
    .where("customer_id", "=", customerId)
    .execute();
  const alerts = await amlDb()
    .selectFrom("aml_alerts")
    .select(["id", "rule_code", "triggers_count"])
    .where("customer_id", "=", customerId)
    .execute();
  const cases = await amlDb()
    .selectFrom("aml_cases")
    .select("id")
    .where("customer_id", "=", customerId)
    .execute();
  return {
    movements: movements.length,
    volumeMinor: volumes.reduce((total, row) => total + BigInt(row.volume_minor), 0n),
    volumeCount: volumes.reduce((total, row) => total + row.movements_count, 0),
    alerts: alerts.map((alert) => `${alert.rule_code}×${alert.triggers_count}`),
    cases: cases.length,
  };
}

async function depositEvents(accountId: string): Promise<DomainEvent[]> {
  const rows = await findOutboxEvents(app.database.db, { type: "deposit.completed" });
  return rows
    .map((row) => row.event as unknown as DomainEvent)
    .filter((event) => event.data.toAccountId === accountId);
}

describe("replayed money events", () => {
  it("the same event delivered again changes nothing: no second count, no second alert", async () => {
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["9500.00", "9600.00", "9700.00"]);
    const before = await state(subject.customerId);
    expect(before).toEqual({
      movements: 3,
      volumeMinor: 2_880_000n,
      volumeCount: 3,
      alerts: ["structuring×1"],
      cases: 1,
    });
    const events = await depositEvents(subject.account.id);
    expect(events).toHaveLength(3);
    await publish(app, events);
    await publish(app, events);
    expect(await state(subject.customerId)).toEqual(before);
  });

  it("the same deposit under a new event id (a replay by hand) is not counted twice either", async () => {
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["9500.00", "9600.00"]);
    const before = await state(subject.customerId);
    const [first] = await depositEvents(subject.account.id);
    await publish(app, [
      { ...first!, id: fakeId("evt") },
      { ...first!, id: fakeId("evt") },
    ]);
    const after = await state(subject.customerId);
    expect(after).toEqual(before);
    // Two distinct band deposits stay below the three the default rule needs.
    expect(after.alerts).toEqual([]);
    const processed = await amlDb()
      .selectFrom("aml_processed_events")
      .select((eb) => eb.fn.countAll<string>().as("count"))
      .where("event_type", "=", "deposit.completed")
      .executeTakeFirstOrThrow();
    expect(Number(processed.count)).toBeGreaterThanOrEqual(7);
  });

  it("a rule firing again on the same case adds its new transaction to the one alert", async () => {
    const subject = await holder(app);
    await depositAll(app, teller.token, subject.account.id, ["9100.00", "9200.00", "9300.00", "9400.00"]);
    const found = await caseOf(app, analyst.token, subject.customerId);
    const context = await contextOf(app, analyst.token, found!.id);
    expect(context.alerts).toHaveLength(1);
    expect(context.alerts[0]).toMatchObject({ ruleCode: "structuring", triggersCount: 2 });
    expect(context.alerts[0]!.transactionIds).toHaveLength(4);
    expect(context.case).toMatchObject({ riskScore: 40, alertsCount: 1 });
  });
});
