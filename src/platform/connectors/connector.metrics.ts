import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { ConnectorFailureCode } from "./connector-failure.ts";
import type { BreakerState } from "./connector-policy.ts";

/** `ok`, or the failure code the caller got. */
export type ConnectorOutcome = "ok" | ConnectorFailureCode;

/** What a connector reports; a connector built without a registry reports nowhere. */
export interface ConnectorObserver {
  callFinished(connector: string, outcome: ConnectorOutcome, durationS: number): void;
  retried(connector: string): void;
}

const BREAKER_GAUGE_VALUE: Record<BreakerState, number> = { closed: 0, "half-open": 1, open: 2 };

/**
 * Per-connector metrics on the app's registry. Labels are the connector's name and a closed set
 * of outcomes, never a URL or a body, so the series stay few and free of personal data.
 */
export class ConnectorMetrics implements ConnectorObserver {
  readonly #duration: Histogram<"connector" | "outcome">;
  readonly #errors: Counter<"connector" | "code">;
  readonly #retries: Counter<"connector">;
  readonly #breakerStates = new Map<string, () => BreakerState>();

  constructor(registry: Registry) {
    this.#duration = new Histogram({
      name: "omnicore_connector_request_duration_seconds",
      help: "Time a caller waited for a call to another system, retries and backoff included, by outcome",
      labelNames: ["connector", "outcome"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.#errors = new Counter({
      name: "omnicore_connector_errors_total",
      help: "Calls to another system that failed, by failure code",
      labelNames: ["connector", "code"] as const,
      registers: [registry],
    });
    this.#retries = new Counter({
      name: "omnicore_connector_retries_total",
      help: "Attempts repeated after a transient failure",
      labelNames: ["connector"] as const,
      registers: [registry],
    });
    const states = this.#breakerStates;
    new Gauge({
      name: "omnicore_connector_breaker_state",
      help: "Circuit breaker state per connector: 0 closed, 1 half-open, 2 open",
      labelNames: ["connector"] as const,
      registers: [registry],
      collect() {
        for (const [connector, state] of states) this.set({ connector }, BREAKER_GAUGE_VALUE[state()]);
      },
    });
  }

  trackBreaker(connector: string, state: () => BreakerState): void {
    this.#breakerStates.set(connector, state);
  }

  callFinished(connector: string, outcome: ConnectorOutcome, durationS: number): void {
    this.#duration.observe({ connector, outcome }, durationS);
    if (outcome !== "ok") this.#errors.inc({ connector, code: outcome });
  }

  retried(connector: string): void {
    this.#retries.inc({ connector });
  }
}
