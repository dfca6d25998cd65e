import { type RequestContext, systemContext } from "../../platform/context.ts";
import { inTransaction, isUniqueViolation, type Tx } from "../../platform/db/database.ts";
import type { ServiceDependencies } from "../../platform/dependencies.ts";
import { AppError } from "../../platform/errors.ts";
import { appendToOutbox } from "../../platform/events/outbox.ts";
import type { WorkflowRunner } from "../../platform/workflow.ts";
import {
  ACTIVATION_WORKFLOW,
  type ActivationInput,
  defineActivation,
  KYC_UPGRADE_WORKFLOW,
  type KycUpgradeInput,
} from "./activation.ts";
import {
  type Address,
  type ApplicationDto,
  type ApplicationPatch,
  type ApplicationReviewDto,
  type Consent,
  type Decision,
  type IdentityDocument,
  json,
  type KycSummary,
  missingSections,
  type Personal,
  type ScreeningSummary,
  type TaxResidence,
  toApplicationDto,
  toReviewDto,
} from "./application.ts";
import type { KycConnector, KycResult } from "./kyc/index.ts";
import { OnboardingRepository } from "./onboarding.repository.ts";
import { type ApplicationRow, type KycLevel, OPEN_STATUSES } from "./onboarding.tables.ts";
import { type RiskRating, rateRisk } from "./risk-rating.ts";

/** Sanctions and PEP screening of an applicant, by the screening module. */
export interface ApplicantScreening {
  screenApplicant(
    context: RequestContext,
    subject: { customerId: string; fullName: string; dateOfBirth: string; nationality: string },
  ): Promise<ScreeningSummary>;
}

/** What activation needs of the customers and ledger modules. */
export interface OnboardingCustomers {
  setTier(
    context: RequestContext,
    customerId: string,
    tier: "basic" | "standard",
    reason: string,
  ): Promise<{ before: string; after: string }>;
}
export interface OnboardingAccounts {
  openAccount(
    context: RequestContext,
    customerId: string,
    input: { type: "current"; currency: string },
    idempotencyKey: string,
  ): Promise<{ id: string }>;
}

export interface OnboardingConfig {
  /** The currency of the current account opened on activation. */
  currency: string;
  highRiskCountries: readonly string[];
  /** Whether an approval without a verified document activates with basic KYC (low limits). */
  basicWithoutDocument: boolean;
}

export interface OnboardingServiceOptions extends ServiceDependencies {
  config: OnboardingConfig;
  screening: ApplicantScreening;
  customers: OnboardingCustomers;
  accounts: OnboardingAccounts;
  workflows: WorkflowRunner;
  /** The KYC provider, when one is configured. */
  kyc: KycConnector | undefined;
  /** Where the provider calls us back (known once the server listens, when not configured). */
  callbackUrl: () => string | undefined;
}

export type KycDelivery = "webhook" | "poll";

export interface KycApplyOutcome {
  applicationId: string | null;
  duplicate: boolean;
}

/** A submission without a verification id is sent again after this long (its first try failed). */
const RESUBMIT_AFTER_MS = 5_000;
const POLL_BATCH_MAX = 50;
export const REVIEW_PAGE_MAX = 100;

export class OnboardingService {
  readonly #options: OnboardingServiceOptions;
  readonly #repository: OnboardingRepository;
  readonly #highRisk: ReadonlySet<string>;

  constructor(options: OnboardingServiceOptions) {
    this.#options = options;
    this.#repository = new OnboardingRepository({ db: options.db });
    this.#highRisk = new Set(options.config.highRiskCountries);
    defineActivation(options.workflows, {
      db: options.db,
      clock: options.clock,
      events: options.events,
      audit: options.audit,
      customers: options.customers,
      accounts: options.accounts,
    });
  }

  get kycConfigured(): boolean {
    return this.#options.kyc !== undefined;
  }

  // ---- the applicant ----

  async start(context: RequestContext, customerId: string): Promise<ApplicationDto> {
    const open = (await this.#repository.ownApplications(customerId)).find((row) =>
      OPEN_STATUSES.includes(row.status),
    );
    if (open) throw applicationExists(open.id);
    const now = this.#options.clock.now();
    const row = newApplication(this.#options.ids.next("onb"), customerId, context.channel, now);
    try {
      await inTransaction(this.#options.db, async (tx) => {
        await this.#repository.insert(tx, row);
        await this.#publish(tx, context, "onboarding.application_started", row, { channel: context.channel });
      });
    } catch (error) {
      // Two channels starting at the same moment: the partial unique index lets one win.
      if (isUniqueViolation(error, "onboarding_applications_open_idx")) throw applicationExists(undefined);
      throw error;
    }
    return toApplicationDto(row);
  }

  async list(customerId: string): Promise<ApplicationDto[]> {
    return (await this.#repository.ownApplications(customerId)).map(toApplicationDto);
  }

  async get(customerId: string, id: string): Promise<ApplicationDto> {
    return toApplicationDto(await this.#own(customerId, id));
  }

  /** Saves the sections given; any channel may continue what another started. */
  async update(
    context: RequestContext,
    customerId: string,
    id: string,
    patch: ApplicationPatch,
  ): Promise<ApplicationDto> {
    await this.#own(customerId, id);
    const now = this.#options.clock.now();
    return inTransaction(this.#options.db, async (tx) => {
      const row = (await this.#repository.lock(tx, id))!;
      if (row.status !== "draft") throw notEditable(row);
      const updated = await this.#repository.update(tx, id, sectionValues(row, patch, now, context.channel));
      await this.#options.audit.record(tx, context, {
        action: "onboarding.application_updated",
        subjectId: id,
        details: { sections: Object.keys(patch) },
      });
      return toApplicationDto(updated);
    });
  }

  /**
   * Screens the applicant, rates the risk and sends them to the KYC provider. The application is
   * `submitted` before the provider is called, so a result that arrives at once finds it, and a
   * provider outage loses nothing: the maintenance loop sends it again.
   */
  async submit(context: RequestContext, customerId: string, id: string): Promise<ApplicationDto> {
    const draft = await this.#own(customerId, id);
    if (draft.status !== "draft") throw notEditable(draft);
    const missing = missingSections(draft);
    if (missing.length > 0) {
      throw new AppError("application-incomplete", `Missing: ${missing.join(", ")}.`, { missing });
    }
    if (!this.#options.kyc) {
      throw new AppError("kyc-unavailable", "Identity verification is not configured (OMNICORE_KYC_URL).");
    }
    const personal = json<Personal>(draft.personal);
    const screening = await this.#options.screening.screenApplicant(context, {
      customerId,
      fullName: `${personal.givenName} ${personal.familyName}`,
      dateOfBirth: personal.dateOfBirth,
      nationality: personal.nationality,
    });
    const risk = this.#rate(draft, screening, context.channel);
    const submitted = await this.#markSubmitted(context, id, screening, risk);
    return toApplicationDto(await this.#sendToKyc(submitted));
  }

  /**
   * Tiered KYC: a customer active on basic KYC (no verified document) sends a document to verify;
   * once the provider verifies it, they move to full KYC and the standard limits.
   */
  async verifyDocument(
    context: RequestContext,
    customerId: string,
    id: string,
    document: IdentityDocument,
  ): Promise<ApplicationDto> {
    const row = await this.#own(customerId, id);
    if (row.status !== "active" || row.kyc_level !== "basic") {
      throw new AppError(
        "application-not-editable",
        "Only an active application on basic KYC verifies a document.",
        {
          applicationStatus: row.status,
        },
      );
    }
    const kyc = this.#options.kyc;
    const callbackUrl = this.#options.callbackUrl();
    if (!kyc || !callbackUrl)
      throw new AppError("kyc-unavailable", "Identity verification is not configured.");
    const now = this.#options.clock.now();
    const saved = await inTransaction(this.#options.db, async (tx) => {
      const updated = await this.#repository.update(tx, id, {
        document: JSON.stringify(document),
        channel_last: context.channel,
        updated_at: now,
      });
      await this.#options.audit.record(tx, context, {
        action: "onboarding.document_submitted",
        subjectId: id,
        details: { documentType: document.type },
      });
      return updated;
    });
    // A new document is a new verification: its own Idempotency-Key, the same reference.
    const sent = await kyc.client.submitVerification(this.#kycRequest(saved, callbackUrl), {
      idempotencyKey: `${id}:${document.type}:${document.number}`,
    });
    if (!sent.ok) {
      throw new AppError(
        "kyc-unavailable",
        "The identity-verification provider is not reachable; try again.",
      );
    }
    return inTransaction(this.#options.db, async (tx) =>
      toApplicationDto(
        await this.#repository.update(tx, id, {
          upgrade_verification_id: sent.verificationId,
          upgrade_submitted_at: this.#options.clock.now(),
        }),
      ),
    );
  }

  // ---- the KYC provider ----

  /** A webhook delivery: verified on the raw bytes, then applied once. */
  async receiveKycWebhook(rawBody: string, signatureHeader: string | undefined): Promise<KycApplyOutcome> {
    const kyc = this.#options.kyc;
    if (!kyc) throw new AppError("webhook-signature-invalid", "No KYC provider is configured.");
    const verified = kyc.webhooks.verify({ rawBody, signatureHeader });
    if (!verified.ok) {
      if (verified.reason === "signature") {
        throw new AppError("webhook-signature-invalid", `The signature was refused (${verified.signature}).`);
      }
      if (verified.reason === "too-large") throw new AppError("payload-too-large", "The body is too large.");
      throw new AppError("validation", verified.detail);
    }
    return this.applyKycResult(verified.result, "webhook");
  }

  /** Applies a decision (from the webhook or from polling) exactly once, then activates. */
  async applyKycResult(result: KycResult, via: KycDelivery): Promise<KycApplyOutcome> {
    const context = systemContext("kyc-provider");
    const applied = await inTransaction(this.#options.db, (tx) => this.#applyInTx(tx, context, result, via));
    if (applied.runId) await this.#options.workflows.run(applied.runId);
    return { applicationId: applied.applicationId, duplicate: applied.duplicate };
  }

  /**
   * The maintenance pass: sends again what never reached the provider, and asks the provider
   * about verifications whose webhook has not arrived in `pollAfterS` (the webhook fallback).
   */
  async pollKyc(): Promise<number> {
    const kyc = this.#options.kyc;
    if (!kyc) return 0;
    const now = this.#options.clock.now().getTime();
    const waiting = await this.#repository.awaitingKyc(
      new Date(now - kyc.pollAfterS * 1_000),
      POLL_BATCH_MAX,
    );
    let applied = 0;
    for (const row of waiting) {
      const polled = await kyc.client.getVerification(row.kyc_verification_id!);
      if (polled.ok && !polled.pending && !(await this.applyKycResult(polled.result, "poll")).duplicate)
        applied++;
    }
    for (const row of await this.#unsent(new Date(now - RESUBMIT_AFTER_MS))) await this.#sendToKyc(row);
    return applied;
  }

  // ---- staff review ----

  async reviewQueue(status: "referred" | "submitted" | "activation_failed", limit: number) {
    return (await this.#repository.byStatus(status, limit)).map(toReviewDto);
  }

  async review(context: RequestContext, id: string): Promise<ApplicationReviewDto> {
    const row = await this.#repository.find(id);
    if (!row) throw new AppError("not-found", "No such application.");
    // Reading an applicant's file is personal data access: it is audited.
    await inTransaction(this.#options.db, (tx) =>
      this.#options.audit.record(tx, context, { action: "onboarding.application_viewed", subjectId: id }),
    );
    return toReviewDto(row);
  }

  /** An analyst decides a referred application. */
  async decide(
    context: RequestContext,
    id: string,
    input: { outcome: "approved" | "rejected"; reason: string },
  ): Promise<ApplicationReviewDto> {
    const staffId = context.actor.type === "staff" ? context.actor.id : undefined;
    const decision: Decision = {
      by: "analyst",
      outcome: input.outcome,
      reason: input.reason,
      ...(staffId ? { staffId } : {}),
    };
    const { row, runId } = await inTransaction(this.#options.db, async (tx) => {
      const current = await this.#repository.lock(tx, id);
      if (!current) throw new AppError("not-found", "No such application.");
      if (current.status !== "referred") {
        throw new AppError(
          "application-not-reviewable",
          `The application is ${current.status}, not referred.`,
        );
      }
      const level = kycLevelOf(
        json<KycSummary | null>(current.kyc_result),
        json<RiskRating | null>(current.risk),
      );
      return this.#conclude(tx, context, current, decision, level);
    });
    if (runId) await this.#options.workflows.run(runId);
    return toReviewDto((await this.#repository.find(row.id))!);
  }

  // ---- internals ----

  async #own(customerId: string, id: string): Promise<ApplicationRow> {
    const row = await this.#repository.ownApplication(customerId, id);
    // Another customer's application answers exactly like a missing one (BOLA).
    if (!row) throw new AppError("not-found", "No such application.");
    return row;
  }

  #rate(row: ApplicationRow, screening: ScreeningSummary, channel: string): RiskRating {
    const personal = json<Personal>(row.personal);
    return rateRisk({
      residenceCountry: json<Address>(row.address).country,
      nationality: personal.nationality,
      taxCountries: json<TaxResidence[]>(row.tax_residences).map((residence) => residence.country),
      pep: screening.pep,
      screeningHits: screening.hits,
      channel,
      highRiskCountries: this.#highRisk,
    });
  }

  async #markSubmitted(
    context: RequestContext,
    id: string,
    screening: ScreeningSummary,
    risk: RiskRating,
  ): Promise<ApplicationRow> {
    const now = this.#options.clock.now();
    return inTransaction(this.#options.db, async (tx) => {
      const row = (await this.#repository.lock(tx, id))!;
      if (row.status !== "draft") throw notEditable(row);
      const updated = await this.#repository.update(tx, id, {
        status: "submitted",
        screening: JSON.stringify(screening),
        risk: JSON.stringify(risk),
        channel_last: context.channel,
        submitted_at: now,
        updated_at: now,
      });
      await this.#publish(tx, context, "onboarding.application_submitted", updated, {
        riskLevel: risk.level,
        screening: screening.status,
      });
      await this.#options.audit.record(tx, context, {
        action: "onboarding.risk_rated",
        subjectId: id,
        details: { level: risk.level, score: risk.score, factors: risk.factors, screening: screening.status },
      });
      return updated;
    });
  }

  /** Sends the applicant to the provider; a failure leaves the application for the next pass. */
  async #sendToKyc(row: ApplicationRow): Promise<ApplicationRow> {
    const kyc = this.#options.kyc!;
    const callbackUrl = this.#options.callbackUrl();
    if (!callbackUrl) return row;
    const sent = await kyc.client.submitVerification(this.#kycRequest(row, callbackUrl), {
      idempotencyKey: row.id,
    });
    if (!sent.ok) {
      this.#options.logger.warn(
        { applicationId: row.id, failure: sent.failure.code },
        "KYC submission failed",
      );
      return row;
    }
    const now = this.#options.clock.now();
    return inTransaction(this.#options.db, async (tx) => {
      const current = (await this.#repository.lock(tx, row.id))!;
      // A result may have arrived (and been applied) before this answer: keep what it recorded.
      if (current.kyc_verification_id) return current;
      return this.#repository.update(tx, row.id, {
        kyc_verification_id: sent.verificationId,
        kyc_submitted_at: now,
        updated_at: now,
      });
    });
  }

  #kycRequest(row: ApplicationRow, callbackUrl: string) {
    const personal = json<Personal>(row.personal);
    return {
      reference: row.id,
      callbackUrl,
      applicant: {
        givenName: personal.givenName,
        familyName: personal.familyName,
        dateOfBirth: personal.dateOfBirth,
        nationality: personal.nationality,
        address: { ...json<Address>(row.address) },
        document: json<IdentityDocument>(row.document),
      },
    };
  }

  async #unsent(submittedBefore: Date): Promise<ApplicationRow[]> {
    return (await this.#repository.byStatus("submitted", POLL_BATCH_MAX)).filter(
      (row) =>
        row.kyc_verification_id === null && row.submitted_at !== null && row.submitted_at <= submittedBefore,
    );
  }

  async #applyInTx(
    tx: Tx,
    context: RequestContext,
    result: KycResult,
    via: KycDelivery,
  ): Promise<{ applicationId: string | null; duplicate: boolean; runId?: string }> {
    const row = await this.#repository.lock(tx, result.reference);
    if (row?.upgrade_verification_id === result.verificationId)
      return this.#applyUpgrade(tx, context, row, result, via);
    // Not ours, or an older verification of the same application: nothing to apply.
    if (!row || (row.kyc_verification_id && row.kyc_verification_id !== result.verificationId)) {
      return { applicationId: row?.id ?? null, duplicate: true };
    }
    const now = this.#options.clock.now();
    const fresh = await this.#repository.recordKycResult(tx, {
      verification_id: result.verificationId,
      application_id: row.id,
      outcome: result.outcome,
      received_via: via,
      received_at: now,
    });
    if (!fresh || row.status !== "submitted") return { applicationId: row.id, duplicate: true };
    const kyc: KycSummary = {
      verificationId: result.verificationId,
      outcome: result.outcome,
      reasons: result.reasons,
      documentVerified: result.documentVerified,
      decidedAt: result.decidedAt.toISOString(),
    };
    const withResult = await this.#repository.update(tx, row.id, {
      kyc_verification_id: result.verificationId,
      kyc_submitted_at: row.kyc_submitted_at ?? now,
      kyc_result: JSON.stringify(kyc),
      updated_at: now,
    });
    await this.#options.audit.record(tx, context, {
      action: "kyc.decision_received",
      subjectId: row.id,
      details: { outcome: kyc.outcome, reasons: kyc.reasons, documentVerified: kyc.documentVerified, via },
    });
    const { runId } = await this.#route(tx, context, withResult, kyc);
    return { applicationId: row.id, duplicate: false, ...(runId ? { runId } : {}) };
  }

  /** The result of a basic-KYC customer's document verification. */
  async #applyUpgrade(
    tx: Tx,
    context: RequestContext,
    row: ApplicationRow,
    result: KycResult,
    via: KycDelivery,
  ): Promise<{ applicationId: string; duplicate: boolean; runId?: string }> {
    const now = this.#options.clock.now();
    const fresh = await this.#repository.recordKycResult(tx, {
      verification_id: result.verificationId,
      application_id: row.id,
      outcome: result.outcome,
      received_via: via,
      received_at: now,
    });
    if (!fresh || row.kyc_level !== "basic") return { applicationId: row.id, duplicate: true };
    const verified = result.outcome === "approved" && result.documentVerified;
    await this.#options.audit.record(tx, context, {
      action: "kyc.decision_received",
      subjectId: row.id,
      details: {
        outcome: result.outcome,
        reasons: result.reasons,
        documentVerified: result.documentVerified,
        via,
        upgrade: true,
      },
    });
    if (!verified) {
      // Refused: the customer stays on basic KYC and may send another document.
      await this.#repository.update(tx, row.id, {
        upgrade_verification_id: null,
        upgrade_submitted_at: null,
        updated_at: now,
      });
      await this.#publish(tx, context, "onboarding.kyc_upgrade_refused", row, { reasons: result.reasons });
      return { applicationId: row.id, duplicate: false };
    }
    const input: KycUpgradeInput = {
      applicationId: row.id,
      customerId: row.customer_id,
      verificationId: result.verificationId,
    };
    const runId = await this.#options.workflows.start(
      tx,
      KYC_UPGRADE_WORKFLOW,
      `${row.id}:${result.verificationId}`,
      input,
    );
    return { applicationId: row.id, duplicate: false, runId };
  }

  /** The provider's outcome, then what screening and risk add: approve, refer or reject. */
  async #route(
    tx: Tx,
    context: RequestContext,
    row: ApplicationRow,
    kyc: KycSummary,
  ): Promise<{ runId?: string }> {
    if (kyc.outcome === "rejected") {
      const decision: Decision = { by: "kyc", outcome: "rejected", reason: kyc.reasons[0] ?? "kyc_rejected" };
      return this.#conclude(tx, context, row, decision, "basic");
    }
    const reasons = this.#referralReasons(row, kyc);
    if (reasons.length > 0) {
      const now = this.#options.clock.now();
      const referred = await this.#repository.update(tx, row.id, {
        status: "referred",
        referral_reasons: JSON.stringify(reasons),
        updated_at: now,
      });
      await this.#publish(tx, context, "onboarding.application_referred", referred, { reasons });
      return {};
    }
    return this.#conclude(
      tx,
      context,
      row,
      { by: "kyc", outcome: "approved", reason: "kyc_approved" },
      kycLevelOf(kyc, json<RiskRating | null>(row.risk)),
    );
  }

  #referralReasons(row: ApplicationRow, kyc: KycSummary): string[] {
    const screening = json<ScreeningSummary>(row.screening);
    const risk = json<RiskRating>(row.risk);
    const reasons = kyc.outcome === "referred" ? [...kyc.reasons] : [];
    if (kyc.outcome === "referred" && reasons.length === 0) reasons.push("kyc_referred");
    if (screening.status === "hit") reasons.push("screening_hit");
    if (screening.pep) reasons.push("pep");
    if (risk.level === "high") reasons.push("high_risk");
    if (!kyc.documentVerified && !this.#options.config.basicWithoutDocument)
      reasons.push("document_not_verified");
    return [...new Set(reasons)];
  }

  /** Approves (and starts activation, in the same transaction) or rejects an application. */
  async #conclude(
    tx: Tx,
    context: RequestContext,
    row: ApplicationRow,
    decision: Decision,
    level: KycLevel,
  ): Promise<{ row: ApplicationRow; runId?: string }> {
    const now = this.#options.clock.now();
    const approved = decision.outcome === "approved";
    const updated = await this.#repository.update(tx, row.id, {
      status: approved ? "approved" : "rejected",
      decision: JSON.stringify(decision),
      kyc_level: approved ? level : null,
      decided_at: now,
      updated_at: now,
    });
    await this.#publish(tx, context, `onboarding.application_${decision.outcome}`, updated, {
      by: decision.by,
      reason: decision.reason,
      ...(approved ? { kycLevel: level } : {}),
    });
    await this.#options.audit.record(tx, context, {
      action: `onboarding.application_${decision.outcome}`,
      subjectId: row.id,
      details: { by: decision.by, reason: decision.reason },
      before: { status: row.status },
      after: { status: updated.status, kycLevel: updated.kyc_level },
    });
    if (!approved) {
      await this.#notify(tx, context, row.customer_id, "onboarding_rejected");
      return { row: updated };
    }
    const input: ActivationInput = {
      applicationId: row.id,
      customerId: row.customer_id,
      kycLevel: level,
      currency: this.#options.config.currency,
    };
    const runId = await this.#options.workflows.start(tx, ACTIVATION_WORKFLOW, row.id, input);
    return { row: updated, runId };
  }

  async #notify(tx: Tx, context: RequestContext, customerId: string, template: string): Promise<void> {
    await appendToOutbox(tx, [
      this.#options.events.create(context, "notification.requested", customerId, {
        customerId,
        category: "onboarding",
        template,
      }),
    ]);
  }

  async #publish(
    tx: Tx,
    context: RequestContext,
    type: string,
    row: ApplicationRow,
    data: Record<string, unknown>,
  ): Promise<void> {
    await appendToOutbox(tx, [
      this.#options.events.create(context, type, row.id, {
        applicationId: row.id,
        customerId: row.customer_id,
        ...data,
      }),
    ]);
  }
}

function newApplication(id: string, customerId: string, channel: string, now: Date): ApplicationRow {
  return {
    id,
    customer_id: customerId,
    status: "draft",
    channel_started: channel,
    channel_last: channel,
    personal: null,
    address: null,
    tax_residences: null,
    document: null,
    consents: "[]",
    screening: null,
    risk: null,
    kyc_verification_id: null,
    kyc_submitted_at: null,
    kyc_result: null,
    kyc_level: null,
    upgrade_verification_id: null,
    upgrade_submitted_at: null,
    referral_reasons: "[]",
    decision: null,
    account_id: null,
    submitted_at: null,
    decided_at: null,
    activated_at: null,
    created_at: now,
    updated_at: now,
  };
}

function sectionValues(row: ApplicationRow, patch: ApplicationPatch, now: Date, channel: string) {
  const values: Partial<ApplicationRow> = { updated_at: now, channel_last: channel };
  if (patch.personal) values.personal = JSON.stringify(patch.personal);
  if (patch.address) values.address = JSON.stringify(patch.address);
  if (patch.taxResidences) values.tax_residences = JSON.stringify(patch.taxResidences);
  if (patch.document) values.document = JSON.stringify(patch.document);
  if (patch.consents) {
    // Every answer is kept with its version and time: what the customer agreed to, and when.
    const answers: Consent[] = patch.consents.map((answer) => ({ ...answer, at: now.toISOString() }));
    values.consents = JSON.stringify([...json<Consent[]>(row.consents), ...answers]);
  }
  return values;
}

/**
 * The KYC level the checks earned: full needs a verified document, and a high-risk customer (whom
 * an analyst approved after enhanced due diligence) starts on basic limits all the same.
 */
function kycLevelOf(kyc: KycSummary | null, risk: RiskRating | null): KycLevel {
  return kyc?.documentVerified && risk?.level !== "high" ? "full" : "basic";
}

function notEditable(row: ApplicationRow): AppError {
  return new AppError(
    "application-not-editable",
    `The application is ${row.status}: it can no longer change.`,
    {
      applicationStatus: row.status,
    },
  );
}

function applicationExists(applicationId: string | undefined): AppError {
  return new AppError(
    "application-exists",
    "An application is already in progress: resume it.",
    applicationId ? { applicationId } : {},
  );
}
