import type { Registry } from "prom-client";
import type { ReadinessCheck } from "../http/ops.routes.ts";
import type { Logger } from "../logger.ts";
import { ConnectorMetrics } from "./connector.metrics.ts";
import { type ConnectorDefaults, HttpConnector, type HttpConnectorDefinition } from "./http-connector.ts";
import { OutboundPolicy, type OutboundPolicyConfig } from "./outbound-policy.ts";

/** How a module asks for a connector; the composition root hands it the registry. */
export interface ConnectorFactory {
  /** The configured defaults, for a client that derives a setting from them. */
  readonly defaults: ConnectorDefaults;
  http(definition: HttpConnectorDefinition): HttpConnector;
}

/**
 * Every connector of one app: built with the configured allow-list and defaults, measured on the
 * app's metrics registry, and reported in `/ready`. One per app, like the metrics registry, so
 * tests that build many apps in one process never share breakers or counters.
 */
export class ConnectorRegistry implements ConnectorFactory {
  readonly #outbound: OutboundPolicy;
  readonly defaults: ConnectorDefaults;
  readonly #metrics: ConnectorMetrics;
  readonly #logger: Logger;
  readonly #connectors = new Map<string, HttpConnector>();

  constructor(options: {
    outbound: OutboundPolicyConfig;
    defaults: ConnectorDefaults;
    registry: Registry;
    logger: Logger;
  }) {
    this.#outbound = new OutboundPolicy(options.outbound);
    this.defaults = options.defaults;
    this.#metrics = new ConnectorMetrics(options.registry);
    this.#logger = options.logger;
  }

  http(definition: HttpConnectorDefinition): HttpConnector {
    if (this.#connectors.has(definition.name)) {
      throw new Error(`a connector named ${definition.name} already exists`);
    }
    const connector = new HttpConnector(definition, {
      outbound: this.#outbound,
      defaults: this.defaults,
      observer: this.#metrics,
      onStateChange: (name, state) => {
        // Only the name and the state: an operator needs to know which system, not what was sent.
        if (state === "open") this.#logger.warn({ connector: name }, "connector circuit opened");
        else this.#logger.info({ connector: name, state }, "connector circuit state changed");
      },
    });
    this.#metrics.trackBreaker(definition.name, () => connector.state);
    this.#connectors.set(definition.name, connector);
    return connector;
  }

  /**
   * One `/ready` entry per connector, named `connector:<name>`. A closed circuit is up; an open
   * or half-open one is degraded, which fails readiness only for a connector declared required.
   */
  readinessChecks(): Record<string, ReadinessCheck> {
    const checks: Record<string, ReadinessCheck> = {};
    for (const connector of this.#connectors.values()) {
      checks[`connector:${connector.name}`] = async () => {
        const { state, required } = connector.health();
        if (state === "closed") return;
        const detail =
          state === "open"
            ? "circuit open: calls are refused until a trial call succeeds"
            : "circuit half-open: a trial call decides whether it closes";
        if (required) throw new Error(detail);
        return { status: "degraded", detail };
      };
    }
    return checks;
  }
}
