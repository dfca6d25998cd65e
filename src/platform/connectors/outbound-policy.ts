import { isIP } from "node:net";
import { type ConnectorFailure, connectorFailure } from "./connector-failure.ts";

/**
 * Where this node may send requests. Checked on the final URL of every call, before any
 * connection is opened, so neither a misconfiguration nor a crafted path can make Omnicore call
 * a host nobody approved (server-side request forgery). TLS certificates are always verified:
 * nothing in the connectors can turn verification off, and `loadConfig` refuses to start with
 * `NODE_TLS_REJECT_UNAUTHORIZED=0`.
 */
export interface OutboundPolicyConfig {
  /** Host names (`rail.example.com`) or host:port pairs; compared without regard to case. */
  allowedHosts: string[];
  /** Plain `http:` to a host that is not loopback; development and closed test networks only. */
  allowPlaintext: boolean;
}

/** `localhost`, 127.0.0.0/8 and ::1: traffic that never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1" || host === "0:0:0:0:0:0:0:1";
}

export class OutboundPolicy {
  readonly #allowedHosts: ReadonlySet<string>;
  readonly #allowPlaintext: boolean;

  constructor(config: OutboundPolicyConfig) {
    this.#allowedHosts = new Set(config.allowedHosts.map((host) => host.trim().toLowerCase()));
    this.#allowPlaintext = config.allowPlaintext;
  }

  /**
   * The policy of a connector built without a registry (tests, tools): it trusts exactly its own
   * base URL, as given by whoever built it. The composition root never uses this; its connectors
   * get the configured allow-list and plaintext rule.
   */
  static pinnedTo(baseUrl: string): OutboundPolicy {
    const url = new URL(baseUrl);
    return new OutboundPolicy({ allowedHosts: [url.host], allowPlaintext: url.protocol === "http:" });
  }

  /** `undefined` when the URL may be called; otherwise the typed refusal. */
  check(url: URL): ConnectorFailure | undefined {
    if (url.protocol !== "https:" && url.protocol !== "http:") return connectorFailure("host-not-allowed");
    const host = url.host.toLowerCase();
    const hostname = url.hostname.toLowerCase();
    if (!this.#allowedHosts.has(host) && !this.#allowedHosts.has(hostname)) {
      return connectorFailure("host-not-allowed");
    }
    if (url.protocol === "http:" && !this.#allowPlaintext && !isLoopbackHost(hostname)) {
      return connectorFailure("plaintext-not-allowed");
    }
    return undefined;
  }
}
