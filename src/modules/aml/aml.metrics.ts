import { Counter, Histogram, type Registry } from "prom-client";

/** What ended or changed a compliance case. */
export type CaseAction = "close_false_positive" | "escalate" | "file_report" | "freeze";

/**
 * Metrics of the monitoring, on the app's registry: alerts by rule (which rules make the work),
 * cases opened, actions by kind, and how long cases wait for a resolution. Durations come from the
 * injected clock, so tests can reason about them.
 */
export class AmlMetrics {
  readonly #alerts: Counter<"rule">;
  readonly #casesOpened: Counter;
  readonly #actions: Counter<"action">;
  readonly #openToResolution: Histogram<"action">;

  constructor(registry: Registry) {
    this.#alerts = new Counter({
      name: "omnicore_aml_alerts_total",
      help: "AML alerts raised (or raised again on the same case), by rule code",
      labelNames: ["rule"] as const,
      registers: [registry],
    });
    this.#casesOpened = new Counter({
      name: "omnicore_aml_cases_opened_total",
      help: "Compliance cases opened by AML alerts",
      registers: [registry],
    });
    this.#actions = new Counter({
      name: "omnicore_aml_case_actions_total",
      help: "Actions analysts took on compliance cases, by kind",
      labelNames: ["action"] as const,
      registers: [registry],
    });
    this.#openToResolution = new Histogram({
      name: "omnicore_aml_case_open_to_resolution_seconds",
      help: "Time from a compliance case's opening to its closing or report",
      labelNames: ["action"] as const,
      buckets: [3_600, 14_400, 86_400, 259_200, 604_800, 1_209_600, 2_592_000],
      registers: [registry],
    });
  }

  alertRaised(rule: string): void {
    this.#alerts.inc({ rule });
  }

  caseOpened(): void {
    this.#casesOpened.inc();
  }

  acted(action: CaseAction, openedAt: Date, at: Date): void {
    this.#actions.inc({ action });
    if (action === "close_false_positive" || action === "file_report") {
      this.#openToResolution.observe({ action }, Math.max(0, (at.getTime() - openedAt.getTime()) / 1000));
    }
  }
}
