import { afterEach, describe, expect, it } from "vitest";
import { defineActivation } from "../../src/modules/onboarding/activation.ts";
import type { OnboardingAccounts } from "../../src/modules/onboarding/onboarding.service.ts";
import { AuditTrail } from "../../src/platform/audit.ts";
import { inTransaction } from "../../src/platform/db/database.ts";
import { AppError } from "../../src/platform/errors.ts";
import { eventFactory } from "../../src/platform/events/event.ts";
import { uuidV7Ids } from "../../src/platform/ids.ts";
import { WorkflowRunner } from "../../src/platform/workflow.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, outboxEvents } from "../identity.helpers.ts";
import { newCustomer } from "../payments/payments.helpers.ts";
import { waitFor } from "../platform/wait.ts";
import {
  applicant,
  apply,
  cleanUpOnboarding,
  onboardingSetup,
  readApplication,
} from "./onboarding.helpers.ts";

/**
 * Activation is a workflow: these tests break it in the middle, the way a crash or a refused step
 * would, and check that it ends with exactly one account (or none, compensated).
 */

afterEach(cleanUpOnboarding);

/** A runner of the activation workflow as another process would build it, with its own ledger port. */
function activationRunner(app: TestApp, accounts: OnboardingAccounts): WorkflowRunner {
  const clock = app.clock;
  const runner = new WorkflowRunner({ db: app.database.db, ids: uuidV7Ids, clock });
  defineActivation(runner, {
    db: app.database.db,
    clock,
    events: eventFactory({ ids: uuidV7Ids, clock }),
    audit: new AuditTrail({ ids: uuidV7Ids, clock }),
    customers: app.services.customers,
    accounts,
  });
  return runner;
}

/** A referred application, approved behind the app's back so the test's runner runs it. */
async function approvedBehindTheBack(
  app: TestApp,
  runner: WorkflowRunner,
  kycLevel: "basic" | "full" = "full",
) {
  const customer = await newCustomer(app);
  const submitted = await apply(app, customer.token, applicant({ documentNumber: "REF778899" }));
  await waitFor(async () => (await readApplication(app, customer.token, submitted.id)).status === "referred");
  const runId = await inTransaction(app.database.db, async (tx) => {
    await tx
      .updateTable("onboarding_applications")
      .set({ status: "approved", kyc_level: kycLevel })
      .where("id", "=", submitted.id)
      .execute();
    return runner.start(tx, "onboarding.activation", submitted.id, {
      applicationId: submitted.id,
      customerId: customer.customerId,
      kycLevel,
      currency: "EUR",
    });
  });
  return { customer, applicationId: submitted.id, runId };
}

async function accountIds(app: TestApp, token: string): Promise<string[]> {
  const response = await app.http.inject({ method: "GET", url: "/v1/accounts", headers: bearer(token) });
  return response.json<{ items: Array<{ id: string }> }>().items.map((account) => account.id);
}

describe("activation as a workflow", () => {
  it("retried after a crash between opening the account and recording it, opens exactly one account", async () => {
    const { app } = await onboardingSetup();
    let opened: string | undefined;
    const crashing = activationRunner(app, {
      async openAccount(context, customerId, input, key) {
        const account = await app.services.ledger.openAccount(context, customerId, input, key);
        opened = account.id;
        throw new Error("process died after the account was committed");
      },
    });
    const { customer, applicationId, runId } = await approvedBehindTheBack(app, crashing);
    expect(await crashing.run(runId)).toBe("running");
    expect(await accountIds(app, customer.token)).toEqual([opened]);
    // The app's own maintenance loop resumes the run once its backoff is over.
    await waitFor(
      async () => (await readApplication(app, customer.token, applicationId)).status === "active",
      400,
      25,
      "the resumed activation",
    );
    expect(await accountIds(app, customer.token)).toEqual([opened]);
    expect((await readApplication(app, customer.token, applicationId)).accountId).toBe(opened);
    expect(await outboxEvents(app, "onboarding.application_activated", applicationId)).toHaveLength(1);
    expect(await app.services.workflows.status("onboarding.activation", applicationId)).toBe("completed");
  });

  it("runs on one node only when two nodes pick the same run, and never again once completed", async () => {
    const { app } = await onboardingSetup({}, { OMNICORE_ONBOARDING_WORKER_INTERVAL_MS: "0" });
    let calls = 0;
    const accounts: OnboardingAccounts = {
      async openAccount(context, customerId, input, key) {
        calls++;
        return app.services.ledger.openAccount(context, customerId, input, key);
      },
    };
    const nodeA = activationRunner(app, accounts);
    const nodeB = activationRunner(app, accounts);
    const { customer, runId } = await approvedBehindTheBack(app, nodeA);
    const outcomes = await Promise.all([nodeA.run(runId), nodeB.run(runId)]);
    expect(outcomes.sort()).toEqual(["completed", "leased"]);
    expect(await nodeB.run(runId)).toBe("leased");
    expect(calls).toBe(1);
    expect(await accountIds(app, customer.token)).toHaveLength(1);
  });

  it("compensates when a step is refused for good: the tier goes back, no account, an analyst sees it", async () => {
    const { app } = await onboardingSetup();
    const refusing = activationRunner(app, {
      async openAccount() {
        throw new AppError("validation", "XXX is not an ISO 4217 currency with a minor unit.");
      },
    });
    // Basic KYC lowers the registered customer's tier (standard → basic) before the refused step.
    const { customer, applicationId, runId } = await approvedBehindTheBack(app, refusing, "basic");
    expect(await refusing.run(runId)).toBe("compensated");
    const tier = await app.database.db
      .selectFrom("customers")
      .select("tier")
      .where("id", "=", customer.customerId)
      .executeTakeFirstOrThrow();
    expect(tier.tier).toBe("standard");
    const changes = await outboxEvents(app, "customer.tier_changed", customer.customerId);
    expect(changes.map((event) => [event.data.before, event.data.after, event.data.reason])).toEqual([
      ["standard", "basic", "onboarding"],
      ["basic", "standard", "onboarding_compensation"],
    ]);
    expect((await readApplication(app, customer.token, applicationId)).status).toBe("activation_failed");
    expect(await accountIds(app, customer.token)).toEqual([]);
    expect(await outboxEvents(app, "onboarding.activation_failed", applicationId)).toHaveLength(1);
  });
});
