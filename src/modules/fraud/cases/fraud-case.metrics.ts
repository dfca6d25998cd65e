import { Counter, Histogram, type Registry } from "prom-client";

/** What ended a case: an investigator's action, or the customer's own confirmation. */
export type CaseResolutionAction = "release" | "reject" | "confirm_fraud" | "customer_release";

/**
 * Metrics of the investigations, on the app's registry. The hold rate is
 * `omnicore_fraud_cases_opened_total` over the engine's decision counter (every held payment opens
 * exactly one case); the release rate is `omnicore_fraud_cases_resolved_total{action=~"release|customer_release"}`
 * over all resolved cases. Durations come from the injected clock, so tests can reason about them.
 */
export class FraudCaseMetrics {
  readonly #holdToDecision: Histogram<"action">;
  readonly #opened: Counter;
  readonly #resolved: Counter<"action">;

  constructor(registry: Registry) {
    this.#holdToDecision = new Histogram({
      name: "omnicore_fraud_hold_to_decision_seconds",
      help: "Time from a payment's hold (case opened) to the decision on its case",
      labelNames: ["action"] as const,
      // From minutes (a customer confirming at once) to days (a case waiting over a weekend).
      buckets: [60, 300, 900, 1_800, 3_600, 14_400, 43_200, 86_400, 259_200],
      registers: [registry],
    });
    this.#opened = new Counter({
      name: "omnicore_fraud_cases_opened_total",
      help: "Fraud cases opened for held payments",
      registers: [registry],
    });
    this.#resolved = new Counter({
      name: "omnicore_fraud_cases_resolved_total",
      help: "Fraud cases decided, by the action that decided them",
      labelNames: ["action"] as const,
      registers: [registry],
    });
  }

  caseOpened(): void {
    this.#opened.inc();
  }

  caseResolved(action: CaseResolutionAction, openedAt: Date, decidedAt: Date): void {
    this.#resolved.inc({ action });
    this.#holdToDecision.observe({ action }, Math.max(0, (decidedAt.getTime() - openedAt.getTime()) / 1000));
  }
}
