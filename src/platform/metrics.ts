import { collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/**
 * Prometheus metrics, one registry per app instance (tests build many apps in one process and
 * must not share counters).
 */
export interface Metrics {
  registry: Registry;
  httpRequestDuration: Histogram<"method" | "route" | "status_code">;
}

export function createMetrics(options: {
  outboxLag: () => Promise<{ pending: number; oldestAgeS: number }>;
}) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpRequestDuration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request latency by route",
    labelNames: ["method", "route", "status_code"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  let lastLag = { pending: 0, oldestAgeS: 0 };
  const refreshLag = async () => {
    lastLag = await options.outboxLag().catch(() => lastLag);
  };
  new Gauge({
    name: "omnicore_outbox_pending_events",
    help: "Committed events not yet published to the event bus",
    registers: [registry],
    async collect() {
      await refreshLag();
      this.set(lastLag.pending);
    },
  });
  new Gauge({
    name: "omnicore_outbox_lag_seconds",
    help: "Age of the oldest unpublished outbox event",
    registers: [registry],
    collect() {
      this.set(lastLag.oldestAgeS);
    },
  });
  return { registry, httpRequestDuration } satisfies Metrics;
}
