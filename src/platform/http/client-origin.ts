import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import proxyaddr from "proxy-addr";
import type { ClientOrigin, GeoPoint } from "../context.ts";

export interface EdgeHeadersConfig {
  /** IPs or CIDRs of the load balancers; empty = trust no one (use the socket address, ignore geo headers). */
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

const LATITUDE_LIMIT_DEG = 90;
const LONGITUDE_LIMIT_DEG = 180;
const COUNTRY = /^[A-Za-z]{2}$/;
/** Plain decimal degrees only: Number() would also take "0x1f", "1e2" or "" (as 0). */
const DECIMAL = /^[+-]?\d{1,3}(\.\d+)?$/;

/**
 * The entries that are not an IP address or a CIDR, as config problems ([] when all are fine).
 * proxy-addr's named ranges ("loopback", "uniquelocal", ...) are refused too: trusting every private
 * address would let any internal host vouch for a client's location.
 */
export function validateTrustedProxies(list: string[]): string[] {
  return list
    .filter((entry) => !isIpOrCidr(entry))
    .map((entry) => `OMNICORE_TRUSTED_PROXIES: "${entry}" is not an IP address or CIDR`);
}

function isIpOrCidr(entry: string): boolean {
  const address = entry.split("/", 1)[0] ?? "";
  if (isIP(address) === 0) return false;
  try {
    proxyaddr.compile(entry); // checks the prefix length (or netmask) against the address family
    return true;
  } catch {
    return false;
  }
}

type Headers = Record<string, string | string[] | undefined>;
type OriginRequest = { socket: { remoteAddress?: string | undefined }; headers: Headers };
export type OriginResolver = (request: OriginRequest) => ClientOrigin;

/** A single header value; a repeated header is ambiguous, so it is ignored like an invalid one. */
function single(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return typeof value === "string" ? value.trim() : undefined;
}

function coordinate(raw: string | undefined, limitDeg: number): number | undefined {
  if (raw === undefined || !DECIMAL.test(raw)) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) && Math.abs(value) <= limitDeg ? value : undefined;
}

function geoPoint(latitude: number | undefined, longitude: number | undefined): GeoPoint | undefined {
  return latitude === undefined || longitude === undefined ? undefined : { latitude, longitude };
}

/** Node joins repeated X-Forwarded-For headers, but the type allows an array: join it the same way. */
function forwardedFor(headers: Headers): string {
  const value = headers["x-forwarded-for"];
  return Array.isArray(value) ? value.join(", ") : (value ?? "");
}

/**
 * The client's IP and location. X-Forwarded-For is walked only through trusted hops, and the
 * geo headers are believed only when the TCP peer is a trusted proxy: anyone else could set them.
 */
export function createOriginResolver(config: EdgeHeadersConfig): OriginResolver {
  const trust = proxyaddr.compile(config.trustedProxies);
  // Node lower-cases incoming header names, so configured names must be too to ever match.
  const countryHeader = config.countryHeader.toLowerCase();
  const latitudeHeader = config.latitudeHeader.toLowerCase();
  const longitudeHeader = config.longitudeHeader.toLowerCase();
  return (request) => {
    const peer = request.socket.remoteAddress ?? "";
    if (!trust(peer, 0)) return { ip: peer };
    const walked = proxyaddr(
      {
        socket: { remoteAddress: peer },
        headers: { "x-forwarded-for": forwardedFor(request.headers) },
      } as unknown as IncomingMessage,
      trust,
    );
    const country = single(request.headers, countryHeader);
    return {
      // A trusted hop that forwarded garbage must not put that text into security records.
      ip: isIP(walked) === 0 ? peer : walked,
      country: country !== undefined && COUNTRY.test(country) ? country.toUpperCase() : undefined,
      location: geoPoint(
        coordinate(single(request.headers, latitudeHeader), LATITUDE_LIMIT_DEG),
        coordinate(single(request.headers, longitudeHeader), LONGITUDE_LIMIT_DEG),
      ),
    };
  };
}

/** For Fastify's `trustProxy` option, so request.ip agrees with the resolver. */
export function fastifyTrustProxy(config: EdgeHeadersConfig): false | string[] {
  return config.trustedProxies.length > 0 ? [...config.trustedProxies] : false;
}
