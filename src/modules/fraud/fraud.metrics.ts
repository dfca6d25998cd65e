import { Counter, Histogram, type Registry } from "prom-client";
import type { RiskOutcome } from "../../platform/fraud.ts";

/**
 * The decision engine's metrics, on the app's registry: decisions by outcome (the denominator of
 * the hold rate) and how long a decision takes (the budget is a few milliseconds per payment).
 */
export class FraudMetrics {
  readonly #decisions: Counter<"outcome">;
  readonly #duration: Histogram;

  constructor(registry: Registry) {
    this.#decisions = new Counter({
      name: "omnicore_fraud_decisions_total",
      help: "Fraud decisions made for payments, by outcome",
      labelNames: ["outcome"] as const,
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: "omnicore_fraud_decision_seconds",
      help: "Time to decide one payment: profile, counters, rules and the stored decision",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [registry],
    });
  }

  decided(outcome: RiskOutcome, seconds: number): void {
    this.#decisions.inc({ outcome });
    this.#duration.observe(seconds);
  }
}
