import type { RequestContext } from "./context.ts";
import type { Tx } from "./db/database.ts";

/**
 * The ports between payments and fraud. Payments asks the fraud module for a decision before a
 * payment books; the fraud module's investigators resolve held payments through payments. The
 * composition root wires both directions, so neither module imports the other.
 */

/** What a fraud decision does to the operation it was asked about. */
export const RISK_OUTCOMES = ["allow", "challenge", "hold", "block"] as const;
export type RiskOutcome = (typeof RISK_OUTCOMES)[number];

/** A payment about to be made, as the fraud engine sees it. */
export interface PaymentRiskInput {
  context: RequestContext;
  customerId: string;
  /** The payment's id (trf_…), known before it books, so the decision and the payment link up. */
  transferId: string;
  fromAccountId: string;
  /** Normalised IBAN of the payee. */
  toIban: string;
  amountMinor: bigint;
  currency: string;
  /** The payee's account is at another bank: the money leaves through the payment rail. */
  external: boolean;
}

/** A stored decision: its score, the machine-readable reasons and the rule set that made it. */
export interface RiskDecision {
  /** fdc_… */
  id: string;
  outcome: RiskOutcome;
  /** 0 to 100. */
  score: number;
  /** Codes of the rules that fired, e.g. `new_device`, `amount_far_above_usual`. */
  reasons: string[];
  ruleSetVersion: number;
}

export interface FraudGate {
  /**
   * Decides one payment, stores the decision (with the features it saw, for dry runs) and
   * publishes `fraud.decision_made`. Counts the attempt in the velocity windows.
   */
  assessPayment(input: PaymentRiskInput): Promise<RiskDecision>;
}

/** A payment held for review, as handed to the fraud module to open its case. */
/** A sign-in as the fraud engine sees it. */
export interface LoginRiskInput {
  customerId: string;
  channel: string;
  deviceId: string | undefined;
  country: string | undefined;
  at: Date;
}

/** What the behaviour profile adds to identity's anomaly score at sign-in: 0..100 and rule codes. */
export interface LoginRisk {
  score: number;
  reasons: string[];
}

/**
 * Identity asks the fraud engine at every customer sign-in and refresh, inside the sign-in's own
 * transaction (so the read sees what that transaction sees, and the embedded database's single
 * connection is never asked twice at once).
 */
export interface LoginRiskGate {
  assessLogin(tx: Tx, input: LoginRiskInput): Promise<LoginRisk>;
}

export interface HeldPaymentCase {
  context: RequestContext;
  customerId: string;
  transferId: string;
  decision: RiskDecision;
}

/** Opens a case for a held payment inside the payment's own transaction (held ⇒ a case exists). */
export interface FraudCaseOpener {
  openForHeldPayment(tx: Tx, held: HeldPaymentCase): Promise<{ caseId: string }>;
}

export type HeldPaymentResolution =
  | { ok: true; status: string }
  | {
      ok: false;
      reason:
        | "not-held"
        | "insufficient-funds"
        | "account-not-active"
        | "account-not-found"
        | "currency-mismatch";
    };

/** Implemented by payments: what an investigator's action does to the held payment. */
export interface HeldPayments {
  /** The payment proceeds (settled inside the bank, sent to the rail when external). */
  release(tx: Tx, context: RequestContext, transferId: string): Promise<HeldPaymentResolution>;
  /** The hold is released and the payment rejected; the customer sees `reasonCode`. */
  reject(
    tx: Tx,
    context: RequestContext,
    transferId: string,
    reasonCode: string,
  ): Promise<HeldPaymentResolution>;
}
