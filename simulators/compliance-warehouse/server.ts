import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply } from "fastify";
import { electronicFormatIBAN } from "ibantools";
import { Type } from "typebox";
import { type Clock, systemClock } from "../../src/platform/clock.ts";
import { BackgroundWork } from "../shared/background.ts";
import { problem, startFaultServer } from "../shared/fault-server.ts";
import {
  type FaultControls,
  type FaultControlsPatch,
  FaultControlsPatchProperties,
  FaultInjector,
  faultControlsFrom,
  faultControlsFromEnv,
  type LatencyDistribution,
} from "../shared/faults.ts";
import { pushBounded, remember } from "../shared/settings.ts";

/**
 * A compliance data warehouse for the naive journey of the journey benchmark: it screens a
 * payment against its counterparty and amount after its latency (12 s at scale 1, the product
 * brief's figure), failing or refusing as `faults.ts` configures. A payment is screened once:
 * the same `paymentRef` with the same body answers the first result, with another body 409.
 * See README.md for the API.
 */

export type ScreeningReason = "counterparty_blocked" | "amount_above_review_threshold" | "held_by_control";

export interface ComplianceWarehouseControls extends FaultControls {
  /** Counterparty IBANs (electronic format) that are never cleared. */
  blockedIbans: string[];
  /** Amounts above this are not cleared (they would go to review); null for no threshold. */
  reviewAboveMinor: string | null;
  /** The next this many new screenings are not cleared, whatever the payment. */
  holdNextScreenings: number;
}

export type ComplianceWarehouseControlsPatch = FaultControlsPatch &
  Partial<Pick<ComplianceWarehouseControls, "blockedIbans" | "reviewAboveMinor" | "holdNextScreenings">>;

export interface ScreeningRequest {
  paymentRef: string;
  amountMinor: string;
  currency: string;
  counterpartyIban: string;
}

export interface Screening extends ScreeningRequest {
  screeningId: string;
  cleared: boolean;
  reasons: ScreeningReason[];
  screenedAt: string;
}

export interface ComplianceWarehouseSimulatorOptions
  extends Omit<ComplianceWarehouseControlsPatch, "downForMs"> {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** When set, every call needs it in `x-api-key`. */
  apiKey?: string;
  /** Screenings kept at most (oldest dropped, and with them their idempotency). */
  rememberedMax?: number;
  random?: () => number;
  clock?: Clock;
  newId?: () => string;
  onError?: (error: unknown) => void;
}

export interface ComplianceWarehouseSimulator {
  url: string;
  close(): Promise<void>;
  controls(patch?: ComplianceWarehouseControlsPatch): ComplianceWarehouseControls;
  /** The screenings made, oldest first (a repeated request is not a new screening). */
  screenings(): Screening[];
}

/** The product brief's 12 s. */
export const COMPLIANCE_WAREHOUSE_DEFAULT_LATENCY: LatencyDistribution = { kind: "fixed", ms: 12_000 };

const NAME = "compliance-warehouse-simulator";
const NON_NEGATIVE_MINOR = /^(0|[1-9][0-9]{0,17})$/;
const BLOCKED_IBANS_MAX = 10_000;

const ScreeningSchema = Type.Object(
  {
    paymentRef: Type.String({ minLength: 1, maxLength: 100 }),
    amountMinor: Type.String({ pattern: "^[1-9][0-9]{0,17}$" }),
    currency: Type.String({ pattern: "^[A-Z]{3}$" }),
    counterpartyIban: Type.String({ minLength: 5, maxLength: 42 }),
  },
  { additionalProperties: false },
);

type RuleControls = Pick<
  ComplianceWarehouseControls,
  "blockedIbans" | "reviewAboveMinor" | "holdNextScreenings"
>;

function checkedRules(rules: RuleControls): RuleControls {
  if (rules.blockedIbans.length > BLOCKED_IBANS_MAX)
    throw new Error(`at most ${BLOCKED_IBANS_MAX} blocked IBANs`);
  if (rules.reviewAboveMinor !== null && !NON_NEGATIVE_MINOR.test(rules.reviewAboveMinor)) {
    throw new Error("reviewAboveMinor must be whole minor units, 0 or more, or null");
  }
  const holds = rules.holdNextScreenings;
  if (!Number.isInteger(holds) || holds < 0 || holds > 1_000_000) {
    throw new Error("holdNextScreenings must be a whole number from 0 to 1000000");
  }
  const blockedIbans = rules.blockedIbans.map((iban) => electronicFormatIBAN(iban) ?? iban);
  return { blockedIbans, reviewAboveMinor: rules.reviewAboveMinor, holdNextScreenings: holds };
}

function sameRequest(a: ScreeningRequest, b: ScreeningRequest): boolean {
  return (
    a.amountMinor === b.amountMinor &&
    a.currency === b.currency &&
    electronicFormatIBAN(a.counterpartyIban) === electronicFormatIBAN(b.counterpartyIban)
  );
}

class ComplianceWarehouse {
  readonly faults: FaultInjector;
  readonly #byPaymentRef = new Map<string, Screening>();
  readonly #screenings: Screening[] = [];
  readonly #rememberedMax: number;
  readonly #clock: Clock;
  readonly #newId: () => string;
  #rules: RuleControls;

  constructor(options: ComplianceWarehouseSimulatorOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#newId = options.newId ?? (() => randomUUID().replaceAll("-", ""));
    this.#rememberedMax = options.rememberedMax ?? 100_000;
    this.#rules = checkedRules({
      blockedIbans: options.blockedIbans ?? [],
      reviewAboveMinor: options.reviewAboveMinor ?? null,
      holdNextScreenings: options.holdNextScreenings ?? 0,
    });
    this.faults = new FaultInjector({
      clock: this.#clock,
      random: options.random ?? Math.random,
      controls: faultControlsFrom(options, COMPLIANCE_WAREHOUSE_DEFAULT_LATENCY),
    });
  }

  controls(patch: ComplianceWarehouseControlsPatch = {}): ComplianceWarehouseControls {
    const { blockedIbans, reviewAboveMinor, holdNextScreenings, ...faultPatch } = patch;
    const rules = checkedRules({
      blockedIbans: blockedIbans ?? this.#rules.blockedIbans,
      reviewAboveMinor: reviewAboveMinor === undefined ? this.#rules.reviewAboveMinor : reviewAboveMinor,
      holdNextScreenings: holdNextScreenings ?? this.#rules.holdNextScreenings,
    });
    const faults = this.faults.controls(faultPatch);
    this.#rules = rules;
    return { ...faults, ...rules, blockedIbans: [...rules.blockedIbans] };
  }

  screenings(): Screening[] {
    return [...this.#screenings];
  }

  /** Answers the first screening of this payment, or screens it now; null when the body differs. */
  screen(request: ScreeningRequest): Screening | null {
    const known = this.#byPaymentRef.get(request.paymentRef);
    if (known) return sameRequest(known, request) ? known : null;
    const reasons = this.#reasons(request);
    const screening: Screening = {
      screeningId: `cws_${this.#newId()}`,
      ...request,
      cleared: reasons.length === 0,
      reasons,
      screenedAt: this.#clock.now().toISOString(),
    };
    remember(this.#byPaymentRef, request.paymentRef, screening, this.#rememberedMax);
    pushBounded(this.#screenings, screening, this.#rememberedMax);
    return screening;
  }

  #reasons(request: ScreeningRequest): ScreeningReason[] {
    const reasons: ScreeningReason[] = [];
    const iban = electronicFormatIBAN(request.counterpartyIban) ?? request.counterpartyIban;
    if (this.#rules.blockedIbans.includes(iban)) reasons.push("counterparty_blocked");
    const threshold = this.#rules.reviewAboveMinor;
    if (threshold !== null && BigInt(request.amountMinor) > BigInt(threshold)) {
      reasons.push("amount_above_review_threshold");
    }
    if (this.#rules.holdNextScreenings > 0) {
      this.#rules = { ...this.#rules, holdNextScreenings: this.#rules.holdNextScreenings - 1 };
      reasons.push("held_by_control");
    }
    return reasons;
  }

  registerApi(api: FastifyInstance): void {
    api.post("/screenings", { schema: { body: ScreeningSchema } }, async (request, reply: FastifyReply) => {
      const screening = this.screen(request.body as ScreeningRequest);
      if (screening === null) {
        return problem(
          reply,
          NAME,
          409,
          "payment-ref-reused",
          "This paymentRef was screened with another body.",
        );
      }
      return screening;
    });
  }
}

export async function startComplianceWarehouseSimulator(
  options: ComplianceWarehouseSimulatorOptions = {},
): Promise<ComplianceWarehouseSimulator> {
  const warehouse = new ComplianceWarehouse(options);
  const onError = options.onError ?? ((error) => console.error("compliance-warehouse simulator:", error));
  const server = await startFaultServer({
    name: NAME,
    port: options.port ?? 0,
    host: options.host ?? "127.0.0.1",
    apiKey: options.apiKey,
    bodyMaxBytes: 65_536,
    faults: warehouse.faults,
    work: new BackgroundWork(onError),
    onError,
    api: (api) => warehouse.registerApi(api),
    controls: (patch) => warehouse.controls(patch as ComplianceWarehouseControlsPatch),
    controlsPatchProperties: {
      ...FaultControlsPatchProperties,
      blockedIbans: Type.Optional(
        Type.Array(Type.String({ maxLength: 42 }), { maxItems: BLOCKED_IBANS_MAX }),
      ),
      reviewAboveMinor: Type.Optional(
        Type.Union([Type.String({ pattern: NON_NEGATIVE_MINOR.source }), Type.Null()]),
      ),
      holdNextScreenings: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    },
  });
  return {
    url: server.url,
    close: () => server.close(),
    controls: (patch) => warehouse.controls(patch),
    screenings: () => warehouse.screenings(),
  };
}

// ————— Configuration from the environment —————

export function complianceWarehouseOptionsFromEnv(
  env: NodeJS.ProcessEnv,
): ComplianceWarehouseSimulatorOptions {
  const { downUntil: _, ...faults } = faultControlsFromEnv(
    env,
    "COMPLIANCE_",
    COMPLIANCE_WAREHOUSE_DEFAULT_LATENCY,
  );
  const blockedIbans = (env.COMPLIANCE_BLOCKED_IBANS ?? "")
    .split(",")
    .map((iban) => iban.trim())
    .filter((iban) => iban !== "");
  return {
    port: Number(env.COMPLIANCE_PORT?.trim() || 4500),
    host: env.COMPLIANCE_HOST?.trim() || "127.0.0.1",
    apiKey: env.COMPLIANCE_API_KEY || undefined,
    ...faults,
    blockedIbans,
    reviewAboveMinor: env.COMPLIANCE_REVIEW_ABOVE_MINOR?.trim() || null,
  };
}

/** Starts the compliance warehouse from the environment and prints where it listens. */
export async function startComplianceWarehouseFromEnv(
  env: NodeJS.ProcessEnv,
): Promise<ComplianceWarehouseSimulator> {
  const options = complianceWarehouseOptionsFromEnv(env);
  const simulator = await startComplianceWarehouseSimulator(options);
  console.info(
    `compliance warehouse listening on ${simulator.url} (latency ${JSON.stringify(options.latency)} × ${options.latencyScale})`,
  );
  return simulator;
}

if (import.meta.main) {
  const simulator = await startComplianceWarehouseFromEnv(process.env);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
