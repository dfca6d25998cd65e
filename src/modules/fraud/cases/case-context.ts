import {
  type ChannelSummary,
  type CustomerContext,
  type CustomerContextSources,
  gatherCustomerContext,
  paymentDto,
} from "../../../platform/customer-context.ts";
import type { RiskDecision } from "../../../platform/fraud.ts";
import type { PaymentHistory } from "../../payments/index.ts";
import { type CaseDto, jsonSafe, type NoteDto, toCaseDto, toNoteDto } from "./fraud-case.dto.ts";
import type { FraudCaseRepository } from "./fraud-case.repository.ts";
import type { CaseRow } from "./fraud-case.tables.ts";

/** What the decision engine tells an investigator: the decision and the customer's usual behaviour. */
export interface FraudEngineReads {
  getDecision(decisionId: string): Promise<RiskDecision | undefined>;
  /** The engine's statistics of the customer (usual amounts, payees, devices, countries…). */
  profileSummary(customerId: string): Promise<unknown>;
}

/** Where each part of a case's context comes from: every module through its public face. */
export interface CaseContextSources extends CustomerContextSources {
  repository: FraudCaseRepository;
  payments: Pick<PaymentHistory, "transfer" | "recentTransfersOf">;
  engine: FraudEngineReads;
}

/** Bounds of each part: the context is one answer, and it must stay small enough to be one. */
export const CONTEXT_LIMITS = {
  earlierCases: 20,
  notes: 200,
} as const;

export type { ChannelSummary };

export interface CaseContext {
  case: CaseDto;
  notes: NoteDto[];
  customer: CustomerContext["customer"];
  payment: ReturnType<typeof paymentDto> | null;
  decision: RiskDecision | null;
  channels: ChannelSummary[];
  sessions: CustomerContext["sessions"];
  devices: CustomerContext["devices"];
  recentPayments: CustomerContext["recentPayments"];
  payees: CustomerContext["payees"];
  profile: unknown;
  securityEvents: CustomerContext["securityEvents"];
  earlierCases: CaseDto[];
}

/**
 * Assembles everything an investigator needs to decide one case in one answer: the customer, the
 * held payment and the decision with its reasons, how and where the customer signs in (by
 * channel), their recent payments and payees, the engine's profile, the security events and the
 * customer's earlier cases. The parts are independent reads, so they run concurrently.
 */
export async function assembleCaseContext(sources: CaseContextSources, row: CaseRow): Promise<CaseContext> {
  const customerId = row.customer_id;
  const [shared, payment, decision, profile, earlier, notes] = await Promise.all([
    gatherCustomerContext(sources, customerId),
    sources.payments.transfer(row.transfer_id),
    sources.engine.getDecision(row.decision_id),
    sources.engine.profileSummary(customerId),
    sources.repository.casesOfCustomer(customerId, row.id, CONTEXT_LIMITS.earlierCases),
    sources.repository.notes(row.id, CONTEXT_LIMITS.notes),
  ]);
  return {
    case: toCaseDto(row),
    notes: notes.map(toNoteDto),
    customer: shared.customer,
    payment: payment ? paymentDto(payment) : null,
    decision: decision ? (jsonSafe(decision) as RiskDecision) : null,
    channels: shared.channels,
    sessions: shared.sessions,
    devices: shared.devices,
    recentPayments: shared.recentPayments,
    payees: shared.payees,
    profile: jsonSafe(profile),
    securityEvents: shared.securityEvents,
    earlierCases: earlier.map(toCaseDto),
  };
}
