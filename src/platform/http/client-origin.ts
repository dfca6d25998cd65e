import proxyaddr from "proxy-addr";
import type { ClientOrigin } from "../context.ts";

export interface EdgeHeadersConfig {
  /** IPs or CIDRs of the load balancers; empty = trust no one. */
  trustedProxies: string[];
  countryHeader: string;
  latitudeHeader: string;
  longitudeHeader: string;
}

export const DEFAULT_EDGE_HEADERS: Omit<EdgeHeadersConfig, "trustedProxies"> = {
  countryHeader: "x-client-geo-country",
  latitudeHeader: "x-client-geo-latitude",
  longitudeHeader: "x-client-geo-longitude",
};

export function validateTrustedProxies(list: string[]): string[] {
  const problems: string[] = [];
  for (const entry of list) {
    try {
      proxyaddr.compile(entry);
    } catch {
      problems.push(`OMNICORE_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR`);
    }
  }
  return problems;
}

type OriginRequest = {
  socket: { remoteAddress?: string | undefined };
  headers: Record<string, string | string[] | undefined>;
};
export type OriginResolver = (request: OriginRequest) => ClientOrigin;

function header(request: OriginRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === "string" ? value.trim() : undefined;
}

function coordinate(raw: string | undefined, limit: number): number | undefined {
  if (raw === undefined || !/^-?\d{1,3}(\.\d+)?$/.test(raw)) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) && Math.abs(value) <= limit ? value : undefined;
}

/**
 * The client's IP and location. X-Forwarded-For is walked only through trusted hops, and the
 * geo headers are believed only when the TCP peer is a trusted proxy: anyone else could set them.
 */
export function createOriginResolver(config: EdgeHeadersConfig): OriginResolver {
  const trust = proxyaddr.compile(config.trustedProxies);
  return (request) => {
    const peer = request.socket.remoteAddress ?? "";
    const fromEdge = config.trustedProxies.length > 0 && peer !== "" && trust(peer, 0);
    const ip = fromEdge ? proxyaddr(request as never, trust) : peer;
    if (!fromEdge) return { ip };
    const country = header(request, config.countryHeader);
    const latitude = coordinate(header(request, config.latitudeHeader), 90);
    const longitude = coordinate(header(request, config.longitudeHeader), 180);
    return {
      ip,
      country: country && /^[A-Za-z]{2}$/.test(country) ? country.toUpperCase() : undefined,
      location: latitude !== undefined && longitude !== undefined ? { latitude, longitude } : undefined,
    };
  };
}

export function fastifyTrustProxy(config: EdgeHeadersConfig): false | string[] {
  return config.trustedProxies.length > 0 ? config.trustedProxies : false;
}
