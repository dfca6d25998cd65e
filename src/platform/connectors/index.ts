/**
 * The connector framework: every outbound call to another system goes through a named connector
 * with a resilience policy, the outbound allow-list, metrics and a `/ready` entry. The
 * composition root builds one `ConnectorRegistry`; modules receive it as a `ConnectorFactory`
 * and define their connectors with it.
 */

export type { ConnectorOutcome } from "./connector.metrics.ts";
export {
  CONNECTOR_FAILURE_CODES,
  type ConnectorFailure,
  type ConnectorFailureCode,
  type ConnectorResult,
} from "./connector-failure.ts";
export { type BreakerState, backoffDelayMs } from "./connector-policy.ts";
export { type ConnectorFactory, ConnectorRegistry } from "./connector-registry.ts";
export {
  CONNECTOR_DEFAULTS,
  type ConnectorDefaults,
  type ConnectorHealth,
  type HttpAnswer,
  HttpConnector,
  type HttpConnectorDefinition,
  type HttpMethod,
  type HttpRequest,
} from "./http-connector.ts";
export { isLoopbackHost, OutboundPolicy, type OutboundPolicyConfig } from "./outbound-policy.ts";
