import type { RequestContext } from "./context.ts";

/**
 * The port through which any module demands strong authentication of one operation (PSD2 RTS
 * art. 5 dynamic linking). The identity module implements it; the composition root hands it to
 * the modules that have risky operations, so they need not know how step-up works.
 */
export type StepUpOperation =
  | { type: "transfer"; fromAccountId: string; payee: string; amount: string; currency: string }
  | {
      type: "scheduled_transfer";
      fromAccountId: string;
      payee: string;
      amount: string;
      currency: string;
      frequency: string;
      firstRunOn: string;
    }
  | { type: "change_email"; email: string }
  | { type: "change_phone"; phone: string | null }
  | { type: "change_password" }
  | { type: "mfa_change"; action: string; target?: string | undefined }
  /** The customer confirms that a payment held for fraud review was theirs ("it was me"). */
  | { type: "release_held_transfer"; transferId: string };

export interface TransferForStepUp {
  customerId: string;
  fromAccountId: string;
  payee: string;
  /** Decimal string as the customer sees it; part of what is approved. */
  amount: string;
  amountMinor: bigint;
  currency: string;
  /** Between the customer's own accounts: RTS art. 15 exempts it. */
  ownAccount: boolean;
}

export interface StepUpGate {
  /** False when step-up is off, or for system actors (their payments were authorised when set up). */
  appliesTo(context: RequestContext): boolean;
  /** Resolves when `proof` approves exactly `operation`; otherwise throws step-up-required or challenge-invalid. */
  require(context: RequestContext, operation: StepUpOperation, proof: string | undefined): Promise<void>;
  /** As `require`, but exempt payments (own accounts, low value to a known payee) pass without a proof. */
  authorizeTransfer(
    context: RequestContext,
    transfer: TransferForStepUp,
    proof: string | undefined,
  ): Promise<void>;
}

/** Header that carries the proof of an approved step-up challenge on the retried request. */
export const STEP_UP_PROOF_HEADER = "x-step-up-proof";
