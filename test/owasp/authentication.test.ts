import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIENCES } from "../../src/modules/identity/token.service.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import type { TestApp } from "../helpers/test-app.ts";
import {
  adminTokens,
  bearer,
  createStaff,
  expectProblem,
  login,
  PASSWORD,
  register,
  signedInCustomer,
  staffLogin,
  type Tokens,
} from "../identity.helpers.ts";
import {
  callRoute,
  createOwaspApp,
  type DocumentedRoute,
  documentedRoutes,
  expectSoundEnumeration,
  fillPath,
  forEveryRoute,
  neverIssuedId,
  protectedRoutes,
  signedByForeignKey,
  unsignedToken,
  withChangedClaims,
} from "./routes.ts";

/**
 * OWASP API2 (broken authentication) over every protected route of the OpenAPI document: each
 * way a bearer token can be missing, forged, stale or meant for the other API answers 401.
 */

type TokenAudience = "customer" | "staff";

// Far from the real time, so that anything reading the system clock instead would be caught.
const clock = new ManualClock(new Date("2031-05-05T09:00:00Z"));
const MOBILE = { "x-channel": "mobile" };

let app: TestApp;
let routes: DocumentedRoute[];
/** The genuine tokens every forgery starts from; staff ones are an admin's, who may do anything. */
let customer: { email: string; tokens: Tokens };
let otherCustomerId: string;
let admin: Tokens;
let teller: { id: string; email: string; tokens: Tokens };
/** Issued one access-token lifetime ago, on sessions that are still alive. */
let expired: Record<TokenAudience, Tokens>;
/** Of sessions that were logged out. */
let loggedOut: Record<TokenAudience, Tokens>;

beforeAll(async () => {
  app = await createOwaspApp(clock);
  routes = await documentedRoutes(app);
  // Mobile and branch sessions idle out after 15 minutes: only the token's own 10-minute life
  // can be what refuses these two once the clock has moved past it.
  const early = await signedInCustomer(app, MOBILE);
  const earlyAdmin = await adminTokens(app);
  clock.advance((app.config.auth.accessTokenTtlS + 1) * 1000);
  expired = { customer: early.tokens, staff: earlyAdmin };

  customer = await signedInCustomer(app);
  otherCustomerId = await register(app);
  admin = await adminTokens(app);
  const tellerUser = await createStaff(app, admin, "teller");
  teller = {
    id: tellerUser.id,
    email: tellerUser.email,
    tokens: await staffLogin(app, tellerUser.email, tellerUser.password),
  };
  loggedOut = {
    customer: await login(app, customer.email),
    staff: await staffLogin(app, tellerUser.email, PASSWORD),
  };
  await logout(loggedOut.customer, "/v1/auth/logout");
  await logout(loggedOut.staff, "/v1/staff/auth/logout");
});

afterAll(async () => {
  await app?.destroy();
});

async function logout(tokens: Tokens, url: string) {
  const response = await app.http.inject({ method: "POST", url, headers: bearer(tokens.accessToken) });
  expect(response.statusCode, response.body).toBe(204);
}

function genuine(audience: TokenAudience): string {
  return audience === "customer" ? customer.tokens.accessToken : admin.accessToken;
}

function otherAudience(audience: TokenAudience): TokenAudience {
  return audience === "customer" ? "staff" : "customer";
}

function audienceOf(route: DocumentedRoute): TokenAudience {
  if (route.audience !== "customer" && route.audience !== "staff") {
    throw new Error(`${route.key} is not protected by a token`);
  }
  return route.audience;
}

/** An Authorization header value, or undefined to send none. */
type Credential = (audience: TokenAudience) => string | undefined | Promise<string | undefined>;

const FORGERIES: Array<[string, Credential]> = [
  ["no Authorization header", () => undefined],
  ["a garbage bearer token", () => "Bearer not.a.jwt"],
  ["an empty bearer token", () => "Bearer "],
  ["another scheme (Basic)", () => "Basic b3dhc3A6b3dhc3A="],
  ["the token without the Bearer scheme", (audience) => genuine(audience)],
  [
    "a token signed with another Ed25519 key (our kid, issuer and audience)",
    async (audience) => `Bearer ${await signedByForeignKey(genuine(audience))}`,
  ],
  ["an unsigned token (alg none)", (audience) => `Bearer ${unsignedToken(genuine(audience))}`],
  [
    "a token whose sub was changed, signature kept",
    (audience) =>
      `Bearer ${withChangedClaims(genuine(audience), { sub: audience === "customer" ? otherCustomerId : teller.id })}`,
  ],
  ["an expired token of a live session", (audience) => `Bearer ${expired[audience].accessToken}`],
  ["a token of a session that was logged out", (audience) => `Bearer ${loggedOut[audience].accessToken}`],
  ["a token of the other audience", (audience) => `Bearer ${genuine(otherAudience(audience))}`],
  [
    "a token of the other audience relabelled for this one, signature kept",
    (audience) =>
      `Bearer ${withChangedClaims(genuine(otherAudience(audience)), { aud: AUDIENCES[audience] })}`,
  ],
];

describe("route enumeration", () => {
  it("finds every module's routes in the OpenAPI document, protected ones included", () => {
    expectSoundEnumeration(routes);
    const keys = protectedRoutes(routes).map((route) => route.key);
    expect(keys).toContain("POST /v1/auth/logout");
    expect(keys).toContain("POST /v1/staff/auth/logout");
    expect(keys).not.toContain("POST /v1/auth/login");
  });
});

describe("API2 broken authentication on every protected route", () => {
  it.each(FORGERIES)("%s → 401 unauthorized", async (_name, credential) => {
    await forEveryRoute(protectedRoutes(routes), async (route) => {
      const authorization = await credential(audienceOf(route));
      const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
      expectProblem(await callRoute(app, route, { headers }), 401, "unauthorized");
    });
  });

  it("a teller token whose role was raised to admin, signature kept → 401 on every staff route", async () => {
    const raised = withChangedClaims(teller.tokens.accessToken, { role: "admin" });
    await forEveryRoute(
      routes.filter((route) => route.audience === "staff"),
      async (route) =>
        expectProblem(await callRoute(app, route, { headers: bearer(raised) }), 401, "unauthorized"),
    );
  });

  it("authenticates before validating: a malformed path id and an unknown body field still get 401", async () => {
    const withInput = protectedRoutes(routes).filter((route) => route.pathParams.length > 0 || route.hasBody);
    await forEveryRoute(withInput, async (route) => {
      const params = Object.fromEntries(route.pathParams.map((param) => [param.name, "not-an-id"]));
      const response = await callRoute(app, route, {
        params,
        headers: { "idempotency-key": "x" },
        ...(route.hasBody ? { payload: { unexpected: true } } : {}),
      });
      expectProblem(response, 401, "unauthorized");
    });
  });

  it("HEAD on every protected GET route needs a token too", async () => {
    const gets = protectedRoutes(routes).filter((route) => route.method === "GET");
    await forEveryRoute(gets, async (route) => {
      const response = await app.http.inject({ method: "HEAD", url: fillPath(route) });
      expect(response.statusCode).toBe(401);
      expect(String(response.headers["content-type"])).toMatch(/^application\/problem\+json/);
    });
  });

  it("the genuine tokens get past authentication on every protected route (the checks above can fail)", async () => {
    const signedIn: Record<TokenAudience, () => Promise<string>> = {
      customer: async () => (await login(app, customer.email)).accessToken,
      staff: async () => (await adminTokens(app)).accessToken,
    };
    const current: Record<TokenAudience, string> = {
      customer: await signedIn.customer(),
      staff: await signedIn.staff(),
    };
    await forEveryRoute(protectedRoutes(routes), async (route) => {
      const audience = audienceOf(route);
      const response = await callRoute(app, route, { headers: bearer(current[audience]) });
      expect(response.statusCode, response.body).not.toBe(401);
      // A route that ends the caller's session (logout) leaves the next route a dead token.
      if (!(await stillSignedIn(audience, current[audience]))) current[audience] = await signedIn[audience]();
    });
  });

  it("the expired tokens are refused for their age alone: their sessions still refresh", async () => {
    const refreshUrls: Record<TokenAudience, string> = {
      customer: "/v1/auth/refresh",
      staff: "/v1/staff/auth/refresh",
    };
    for (const audience of ["customer", "staff"] as const) {
      const renewed = await app.http.inject({
        method: "POST",
        url: refreshUrls[audience],
        payload: { refreshToken: expired[audience].refreshToken },
      });
      expect(renewed.statusCode, renewed.body).toBe(200);
      expect(await stillSignedIn(audience, renewed.json<Tokens>().accessToken)).toBe(true);
      expect(await stillSignedIn(audience, expired[audience].accessToken)).toBe(false);
    }
  });
});

async function stillSignedIn(audience: TokenAudience, accessToken: string): Promise<boolean> {
  const url = audience === "customer" ? "/v1/auth/sessions" : `/v1/staff/accounts/${neverIssuedId("acc")}`;
  const response = await app.http.inject({ method: "GET", url, headers: bearer(accessToken) });
  return response.statusCode !== 401;
}

describe("API2 broken authentication on the signed webhooks", () => {
  it("refuses every webhook route without a signature, with a garbage one, and with a customer token", async () => {
    const webhooks = routes.filter((route) => route.audience === "webhook");
    expect(webhooks.map((route) => route.key)).toEqual(
      expect.arrayContaining(["POST /v1/rail/callbacks", "POST /v1/onboarding/kyc/callbacks"]),
    );
    // Each webhook in the format its sender uses, so only the signature can be what is refused.
    const formats: Record<string, { contentType: string; payload: string; header: string }> = {
      "POST /v1/rail/callbacks": {
        contentType: "application/xml",
        payload: "<Document/>",
        header: "x-rail-signature",
      },
      "POST /v1/onboarding/kyc/callbacks": {
        contentType: "application/json",
        payload: "{}",
        header: "x-kyc-signature",
      },
    };
    for (const route of webhooks) {
      const format = formats[route.key];
      if (!format) throw new Error(`${route.key}: add its format to this test`);
      const attempts: Array<Record<string, string>> = [
        {},
        { [format.header]: "t=1,v1=00" },
        { [format.header]: "garbage" },
        bearer(customer.tokens.accessToken),
      ];
      for (const headers of attempts) {
        const response = await app.http.inject({
          method: route.method,
          url: route.path,
          headers: { ...headers, "content-type": format.contentType },
          payload: format.payload,
        });
        expectProblem(response, 401, "webhook-signature-invalid");
      }
    }
  });
});
