import fc from "fast-check";
import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import {
  createOriginResolver,
  DEFAULT_EDGE_HEADERS,
  type EdgeHeadersConfig,
  fastifyTrustProxy,
  validateTrustedProxies,
} from "../../src/platform/http/client-origin.ts";

/**
 * The client origin is only as good as the hops it trusts: a client can send any header it likes,
 * so X-Forwarded-For and the geo headers count only when the TCP peer is a configured load balancer.
 */

const EDGE = "10.0.0.1";
const INNER_PROXY = "10.0.0.2";
const CLIENT = "203.0.113.7";
const STRANGER = "198.51.100.9";

function edgeConfig(trustedProxies: string[], names: Partial<EdgeHeadersConfig> = {}): EdgeHeadersConfig {
  return { trustedProxies, ...DEFAULT_EDGE_HEADERS, ...names };
}

type Headers = Record<string, string | string[] | undefined>;

function request(remoteAddress: string | undefined, headers: Headers = {}) {
  return { socket: { remoteAddress }, headers };
}

/** What the edge adds for a client in Berlin. */
function berlin(extra: Headers = {}): Headers {
  return {
    "x-client-geo-country": "de",
    "x-client-geo-latitude": "52.52",
    "x-client-geo-longitude": "13.405",
    ...extra,
  };
}

const BERLIN_LOCATION = { latitude: 52.52, longitude: 13.405 };

describe("createOriginResolver", () => {
  const resolve = createOriginResolver(edgeConfig(["10.0.0.0/8"]));

  it("ignores X-Forwarded-For and geo headers from a peer that is not a trusted proxy", () => {
    const origin = resolve(request(STRANGER, berlin({ "x-forwarded-for": CLIENT })));
    expect(origin).toEqual({ ip: STRANGER });
  });

  it("trusts no one when no proxies are configured, not even loopback", () => {
    const resolveDirect = createOriginResolver(edgeConfig([]));
    expect(resolveDirect(request("127.0.0.1", berlin({ "x-forwarded-for": CLIENT })))).toEqual({
      ip: "127.0.0.1",
    });
    expect(resolveDirect(request(EDGE, berlin({ "x-forwarded-for": CLIENT })))).toEqual({ ip: EDGE });
  });

  it("takes the IP from X-Forwarded-For and the country and location from a trusted proxy", () => {
    const origin = resolve(request(EDGE, berlin({ "x-forwarded-for": CLIENT })));
    expect(origin).toEqual({ ip: CLIENT, country: "DE", location: BERLIN_LOCATION });
  });

  it("uses the peer's own address when a trusted proxy sends no X-Forwarded-For", () => {
    expect(resolve(request(EDGE, berlin())).ip).toBe(EDGE);
  });

  it("walks X-Forwarded-For through trusted hops only", () => {
    // The client claims to be 192.0.2.1; the edge appended the address it really saw.
    const spoofedFirst = resolve(request(EDGE, { "x-forwarded-for": `192.0.2.1, ${CLIENT}` }));
    expect(spoofedFirst.ip).toBe(CLIENT);
    // Two trusted hops (edge, then an inner proxy) in front of the client.
    const twoHops = resolve(request(INNER_PROXY, { "x-forwarded-for": `${CLIENT}, ${EDGE}` }));
    expect(twoHops.ip).toBe(CLIENT);
    // An untrusted hop in the middle: the walk stops there, whatever it says lies beyond.
    const untrustedMiddle = resolve(
      request(INNER_PROXY, { "x-forwarded-for": `${CLIENT}, ${STRANGER}, ${EDGE}` }),
    );
    expect(untrustedMiddle.ip).toBe(STRANGER);
  });

  it("reads a repeated X-Forwarded-For header as one list", () => {
    const origin = resolve(request(INNER_PROXY, { "x-forwarded-for": [CLIENT, EDGE] }));
    expect(origin.ip).toBe(CLIENT);
  });

  it("falls back to the peer when a trusted hop forwarded something that is not an IP", () => {
    const origin = resolve(request(EDGE, { "x-forwarded-for": "<script>, not-an-ip" }));
    expect(origin.ip).toBe(EDGE);
  });

  it("handles IPv6 proxies and clients", () => {
    const resolveV6 = createOriginResolver(edgeConfig(["2001:db8:1::/48"]));
    const trusted = resolveV6(request("2001:db8:1::10", berlin({ "x-forwarded-for": "2001:db8:2::7" })));
    expect(trusted).toEqual({ ip: "2001:db8:2::7", country: "DE", location: BERLIN_LOCATION });
    const outside = resolveV6(request("2001:db8:2::1", berlin({ "x-forwarded-for": CLIENT })));
    expect(outside).toEqual({ ip: "2001:db8:2::1" });
  });

  it("matches an IPv4-mapped IPv6 peer against an IPv4 proxy entry", () => {
    const resolveLocal = createOriginResolver(edgeConfig(["127.0.0.1"]));
    const mapped = resolveLocal(request("::ffff:127.0.0.1", berlin({ "x-forwarded-for": CLIENT })));
    expect(mapped).toEqual({ ip: CLIENT, country: "DE", location: BERLIN_LOCATION });
    const mappedStranger = resolveLocal(request(`::ffff:${STRANGER}`, berlin({ "x-forwarded-for": CLIENT })));
    expect(mappedStranger).toEqual({ ip: `::ffff:${STRANGER}` });
  });

  it("gives an empty IP rather than failing when the socket has no address", () => {
    expect(resolve(request(undefined, berlin({ "x-forwarded-for": CLIENT })))).toEqual({ ip: "" });
  });

  it.each([
    ["a three-letter code", "DEU"],
    ["a digit", "D1"],
    ["an empty value", ""],
    ["a non-ASCII letter", "DÉ"],
  ])("ignores a country that is %s", (_label, country) => {
    const origin = resolve(request(EDGE, berlin({ "x-client-geo-country": country })));
    expect(origin.country).toBeUndefined();
    expect(origin.location).toEqual(BERLIN_LOCATION);
  });

  it.each([
    ["above 90", "90.0001"],
    ["below -90", "-91"],
    ["not a number", "north"],
    ["in exponent notation", "1e1"],
    ["hexadecimal", "0x10"],
    ["infinite", "Infinity"],
    ["NaN", "NaN"],
    ["empty", ""],
  ])("drops the location when the latitude is %s, keeping the country", (_label, latitude) => {
    const origin = resolve(request(EDGE, berlin({ "x-client-geo-latitude": latitude })));
    expect(origin).toEqual({ ip: EDGE, country: "DE", location: undefined });
  });

  it.each([
    ["above 180", "180.5"],
    ["below -180", "-181"],
  ])("drops the location when the longitude is %s", (_label, longitude) => {
    expect(resolve(request(EDGE, berlin({ "x-client-geo-longitude": longitude }))).location).toBeUndefined();
  });

  it("drops the location when only one coordinate is present", () => {
    expect(resolve(request(EDGE, berlin({ "x-client-geo-longitude": undefined }))).location).toBeUndefined();
    expect(resolve(request(EDGE, berlin({ "x-client-geo-latitude": undefined }))).location).toBeUndefined();
  });

  it("ignores a geo header that was sent twice", () => {
    const origin = resolve(request(EDGE, berlin({ "x-client-geo-country": ["DE", "US"] })));
    expect(origin.country).toBeUndefined();
  });

  it("accepts the boundaries of the coordinate ranges and surrounding whitespace", () => {
    const corner = resolve(
      request(EDGE, {
        "x-client-geo-country": " us ",
        "x-client-geo-latitude": "-90",
        "x-client-geo-longitude": "+180.0",
      }),
    );
    expect(corner).toEqual({ ip: EDGE, country: "US", location: { latitude: -90, longitude: 180 } });
  });

  it("reads configured header names whatever their case", () => {
    const resolveCustom = createOriginResolver(
      edgeConfig([EDGE], {
        countryHeader: "CF-IPCountry",
        latitudeHeader: "X-Geo-Lat",
        longitudeHeader: "X-Geo-Lon",
      }),
    );
    // Node delivers header names lower-cased.
    const origin = resolveCustom(
      request(EDGE, { "cf-ipcountry": "FR", "x-geo-lat": "48.8566", "x-geo-lon": "2.3522" }),
    );
    expect(origin).toEqual({ ip: EDGE, country: "FR", location: { latitude: 48.8566, longitude: 2.3522 } });
    // The default names mean nothing to it.
    expect(resolveCustom(request(EDGE, berlin()))).toEqual({
      ip: EDGE,
      country: undefined,
      location: undefined,
    });
  });

  it("never believes any header from an untrusted peer (property)", () => {
    const value = fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }), fc.constant(undefined));
    const headers = fc.record({
      "x-forwarded-for": value,
      "x-client-geo-country": value,
      "x-client-geo-latitude": value,
      "x-client-geo-longitude": value,
    });
    const untrustedPeer = fc.ipV4().filter((ip) => !ip.startsWith("10."));
    fc.assert(
      fc.property(untrustedPeer, headers, (peer, spoofed) => {
        expect(resolve(request(peer, spoofed))).toEqual({ ip: peer });
      }),
    );
  });
});

describe("validateTrustedProxies", () => {
  it("accepts IPv4 and IPv6 addresses and CIDRs", () => {
    expect(
      validateTrustedProxies(["10.0.0.1", "10.0.0.0/8", "192.168.0.0/255.255.0.0", "::1", "2001:db8::/32"]),
    ).toEqual([]);
    expect(validateTrustedProxies([])).toEqual([]);
  });

  it("names every entry that is not an IP or CIDR", () => {
    const bad = ["not-an-ip", "10.0.0.0/33", "::1/129", "10.0.0.0/x", "10.1", "", "loopback"];
    const problems = validateTrustedProxies(["10.0.0.1", ...bad]);
    expect(problems).toHaveLength(bad.length);
    for (const [index, entry] of bad.entries()) expect(problems[index]).toContain(`"${entry}"`);
  });
});

describe("fastifyTrustProxy", () => {
  it("is false when no proxy is trusted, and the list otherwise", () => {
    expect(fastifyTrustProxy(edgeConfig([]))).toBe(false);
    expect(fastifyTrustProxy(edgeConfig(["10.0.0.0/8", "::1"]))).toEqual(["10.0.0.0/8", "::1"]);
  });

  it.each([
    ["an untrusted peer", [EDGE], STRANGER, `192.0.2.1, ${CLIENT}`],
    ["a trusted edge", ["10.0.0.0/8"], EDGE, `192.0.2.1, ${CLIENT}`],
    ["an untrusted hop in the chain", ["10.0.0.0/8"], INNER_PROXY, `${CLIENT}, ${STRANGER}, ${EDGE}`],
    ["no trusted proxies", [], EDGE, CLIENT],
  ])("makes Fastify's request.ip agree with the resolver for %s", async (_label, proxies, peer, chain) => {
    const config = edgeConfig(proxies);
    const resolve = createOriginResolver(config);
    const app = Fastify({ trustProxy: fastifyTrustProxy(config) });
    app.get("/", async (req) => ({ fastify: req.ip, resolver: resolve(req.raw).ip }));
    try {
      const response = await app.inject({
        method: "GET",
        url: "/",
        remoteAddress: peer,
        headers: { "x-forwarded-for": chain },
      });
      const { fastify, resolver } = response.json<{ fastify: string; resolver: string }>();
      expect(resolver).toBe(fastify);
    } finally {
      await app.close();
    }
  });
});
