import type { AuditEntry, AuditTrail } from "../../platform/audit.ts";
import type { Clock } from "../../platform/clock.ts";
import { type RequestContext, systemContext } from "../../platform/context.ts";
import { type Db, inTransaction } from "../../platform/db/database.ts";
import type { AppError } from "../../platform/errors.ts";
import type { EventFactory } from "../../platform/events/event.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { WorkflowRunner } from "../../platform/workflow.ts";
import { OnboardingRepository } from "./onboarding.repository.ts";
import type { OnboardingAccounts, OnboardingCustomers } from "./onboarding.service.ts";
import type { ApplicationRow, KycLevel } from "./onboarding.tables.ts";

/**
 * Activation of an approved application, as a workflow (architecture rule 2): the customer gets
 * the tier their KYC earned → a current account is opened → the application is active and the
 * customer is welcomed. Each step is idempotent, so a step run again after a crash changes
 * nothing: the tier is set to a value, the account is opened under the Idempotency-Key
 * `onboarding-<application id>` (a second run gets the same account back, never a second one), and
 * the last step is a conditional update of the application.
 */

export const ACTIVATION_WORKFLOW = "onboarding.activation";
/** Basic KYC → full after a verified document: the full tier, then the application says so. */
export const KYC_UPGRADE_WORKFLOW = "onboarding.kyc_upgrade";

export interface KycUpgradeInput {
  applicationId: string;
  customerId: string;
  verificationId: string;
}

export interface ActivationInput {
  applicationId: string;
  customerId: string;
  kycLevel: KycLevel;
  currency: string;
}

interface ActivationDeps {
  db: Db;
  clock: Clock;
  events: EventFactory;
  audit: AuditTrail;
  customers: OnboardingCustomers;
  accounts: OnboardingAccounts;
}

/** Basic KYC (no verified document) gets the low limits; full KYC the standard ones. */
export function tierFor(level: KycLevel): "basic" | "standard" {
  return level === "full" ? "standard" : "basic";
}

function acting(input: { customerId: string }): RequestContext {
  return { ...systemContext("onboarding"), onBehalfOf: input.customerId };
}

export function defineActivation(workflows: WorkflowRunner, deps: ActivationDeps): void {
  const repository = new OnboardingRepository({ db: deps.db });
  workflows.define<ActivationInput>({
    kind: ACTIVATION_WORKFLOW,
    steps: [
      {
        name: "set_tier",
        run: (input) =>
          deps.customers.setTier(acting(input), input.customerId, tierFor(input.kycLevel), "onboarding"),
        compensate: async (input, output) => {
          const before = (output as { before: "basic" | "standard" }).before;
          await deps.customers.setTier(acting(input), input.customerId, before, "onboarding_compensation");
        },
      },
      {
        name: "open_account",
        // No compensation: the ledger closes no account, and an empty account harms nobody; the
        // failed activation is in the review queue for an analyst to follow up.
        run: async (input) => {
          const account = await deps.accounts.openAccount(
            acting(input),
            input.customerId,
            { type: "current", currency: input.currency },
            `onboarding-${input.applicationId}`,
          );
          return { accountId: account.id };
        },
      },
      {
        name: "activate",
        run: async (input, outputs) => {
          const { accountId } = outputs.get("open_account") as { accountId: string };
          await markActive(deps, repository, input, accountId);
        },
      },
    ],
    onCompensated: (input, failure) => markFailed(deps, repository, input, failure),
  });
  workflows.define<KycUpgradeInput>({
    kind: KYC_UPGRADE_WORKFLOW,
    steps: [
      {
        name: "set_tier",
        run: (input) =>
          deps.customers.setTier(acting(input), input.customerId, tierFor("full"), "document_verified"),
      },
      { name: "mark_full", run: (input) => markFull(deps, repository, input) },
    ],
  });
}

interface ApplicationChange {
  applicationId: string;
  customerId: string;
  /** The change applies only to an application in this state (a repeated step finds it done). */
  applies: (row: ApplicationRow) => boolean;
  values: Partial<ApplicationRow>;
  events: Array<{ type: string; aggregateId?: string; data: Record<string, unknown> }>;
  audit: AuditEntry;
}

/** One step's change of the application, with its events and audit record, in one transaction. */
async function changeApplication(
  deps: ActivationDeps,
  repository: OnboardingRepository,
  change: ApplicationChange,
) {
  const context = acting(change);
  await inTransaction(deps.db, async (tx) => {
    const row = await repository.lock(tx, change.applicationId);
    if (!row || !change.applies(row)) return;
    await repository.update(tx, row.id, { ...change.values, updated_at: deps.clock.now() });
    await appendToOutbox(
      tx,
      change.events.map((event) =>
        deps.events.create(context, event.type, event.aggregateId ?? row.id, {
          applicationId: row.id,
          customerId: row.customer_id,
          ...event.data,
        }),
      ),
    );
    await deps.audit.record(tx, context, { ...change.audit, subjectId: row.id });
  });
}

function markFull(deps: ActivationDeps, repository: OnboardingRepository, input: KycUpgradeInput) {
  return changeApplication(deps, repository, {
    ...input,
    applies: (row) => row.kyc_level === "basic" && row.upgrade_verification_id === input.verificationId,
    values: { kyc_level: "full", upgrade_submitted_at: null },
    events: [{ type: "onboarding.kyc_upgraded", data: { kycLevel: "full" } }],
    audit: {
      action: "onboarding.kyc_upgraded",
      details: { verificationId: input.verificationId },
      before: { kycLevel: "basic" },
      after: { kycLevel: "full" },
    },
  });
}

function markActive(
  deps: ActivationDeps,
  repository: OnboardingRepository,
  input: ActivationInput,
  accountId: string,
) {
  return changeApplication(deps, repository, {
    ...input,
    applies: (row) => row.status === "approved",
    values: { status: "active", account_id: accountId, activated_at: deps.clock.now() },
    events: [
      { type: "onboarding.application_activated", data: { accountId, kycLevel: input.kycLevel } },
      {
        type: "notification.requested",
        aggregateId: input.customerId,
        data: { category: "onboarding", template: "welcome" },
      },
    ],
    audit: {
      action: "onboarding.application_activated",
      details: { accountId, kycLevel: input.kycLevel },
      before: { status: "approved" },
      after: { status: "active" },
    },
  });
}

function markFailed(
  deps: ActivationDeps,
  repository: OnboardingRepository,
  input: ActivationInput,
  failure: AppError,
) {
  return changeApplication(deps, repository, {
    ...input,
    applies: (row) => row.status === "approved",
    values: { status: "activation_failed" },
    events: [{ type: "onboarding.activation_failed", data: { reason: failure.slug } }],
    audit: { action: "onboarding.activation_failed", details: { reason: failure.slug } },
  });
}
