import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import { STAFF_ROLES, type StaffRole } from "../../src/platform/context.ts";
import type { ProblemSlug } from "../../src/platform/errors.ts";
import type { TestApp } from "../helpers/test-app.ts";
import {
  adminTokens,
  bearer,
  createStaff,
  decodeClaims,
  expectProblem,
  PASSWORD,
  signedInCustomer,
  staffLogin,
  type Tokens,
} from "../identity.helpers.ts";
import {
  type AccountDto,
  deposit,
  eur,
  getAccount,
  idempotencyKey,
  openAccount,
  snapshot,
  type TransferDto,
  transferRequest,
} from "../payments/payments.helpers.ts";
import {
  ALLOWED_ROLES,
  allowedRole,
  type BodyContext,
  callRoute,
  checkAll,
  comparable,
  createOwaspApp,
  type DocumentedRoute,
  documentedRoutes,
  expectSoundEnumeration,
  forEveryRoute,
  neverIssuedId,
  type StaffAccess,
  validBody,
} from "./routes.ts";

/**
 * OWASP API5 (function-level authorisation) for every staff route and role, and API1 (object-level
 * authorisation) for every customer route that names an object: one customer using another's ids.
 */

const clock = new ManualClock(new Date("2031-06-06T09:00:00Z"));

interface StaffUser {
  email: string;
  token: string;
}

/** A customer with one of everything another customer could try to reach. */
interface Holder {
  customerId: string;
  token: string;
  sessionId: string;
  deviceId: string;
  account: AccountDto;
  transfer: TransferDto;
  transferKey: string;
  challengeId: string;
  payeeId: string;
  scheduledId: string;
  applicationId: string;
}

/**
 * What a customer route with a path id answers when the caller names someone else's object:
 * exactly what it answers for an object that does not exist. A customer route with a path
 * parameter missing here fails the suite.
 */
const BOLA_CASES: Record<
  string,
  { params: (victim: Holder) => Record<string, string>; status: number; slug: ProblemSlug }
> = {
  "GET /v1/accounts/{id}": {
    params: (victim) => ({ id: victim.account.id }),
    status: 404,
    slug: "not-found",
  },
  "GET /v1/accounts/{id}/transactions": {
    params: (victim) => ({ id: victim.account.id }),
    status: 404,
    slug: "not-found",
  },
  "GET /v1/transfers/{id}": {
    params: (victim) => ({ id: victim.transfer.id }),
    status: 404,
    slug: "not-found",
  },
  // "It was me" on someone else's payment: as for a payment that does not exist, before any step-up.
  "POST /v1/transfers/{id}/confirm": {
    params: (victim) => ({ id: victim.transfer.id }),
    status: 404,
    slug: "not-found",
  },
  "DELETE /v1/auth/sessions/{id}": {
    params: (victim) => ({ id: victim.sessionId }),
    status: 404,
    slug: "not-found",
  },
  "DELETE /v1/auth/devices/{deviceId}": {
    params: (victim) => ({ deviceId: victim.deviceId }),
    status: 404,
    slug: "not-found",
  },
  "DELETE /v1/scheduled-transfers/{id}": {
    params: (victim) => ({ id: victim.scheduledId }),
    status: 404,
    slug: "not-found",
  },
  "DELETE /v1/payees/{id}": {
    params: (victim) => ({ id: victim.payeeId }),
    status: 404,
    slug: "not-found",
  },
  // An onboarding application, whatever is done with it: as for an application that does not exist.
  ...Object.fromEntries(
    [
      "GET /v1/onboarding/applications/{id}",
      "PATCH /v1/onboarding/applications/{id}",
      "POST /v1/onboarding/applications/{id}/submit",
      "POST /v1/onboarding/applications/{id}/document-verification",
    ].map((key) => [
      key,
      { params: (victim: Holder) => ({ id: victim.applicationId }), status: 404, slug: "not-found" as const },
    ]),
  ),
  // This app has no legacy core, so nobody has a legacy account or payment: a well-formed id is
  // what can be tried here; test/legacy/payments.test.ts names another customer's real ones.
  ...Object.fromEntries(
    [
      ["GET /v1/legacy-accounts/{id}", "lac"],
      ["GET /v1/legacy-accounts/{id}/transactions", "lac"],
      ["POST /v1/legacy-accounts/{id}/payments", "lac"],
      ["GET /v1/legacy-payments/{id}", "lpm"],
      // Another customer's real notification and push token: test/notifications/notifications.test.ts.
      ["POST /v1/notifications/{id}/read", "ntf"],
      ["DELETE /v1/notifications/push-tokens/{id}", "ptk"],
    ].map(([key, prefix]) => [
      key,
      { params: () => ({ id: neverIssuedId(prefix!) }), status: 404, slug: "not-found" as const },
    ]),
  ),
  // Registering a passkey needs a browser authenticator; a well-formed id is what can be tried.
  "DELETE /v1/auth/passkeys/{id}": {
    params: () => ({ id: neverIssuedId("pky") }),
    status: 404,
    slug: "not-found",
  },
  // Step-up is off in this app: the victim's challenge here is a passkey registration's; the
  // step-up challenge itself is in step-up.test.ts.
  "POST /v1/auth/step-up/{challengeId}": {
    params: (victim) => ({ challengeId: victim.challengeId }),
    status: 422,
    slug: "challenge-invalid",
  },
};

let app: TestApp;
let routes: DocumentedRoute[];
let admin: Tokens;
let staff: Record<StaffRole, StaffUser>;
let alice: Holder;
let bob: Holder;
/** Refers only to objects that do not exist: a request that gets past the guard finds nothing. */
const NOWHERE: BodyContext = { accountId: neverIssuedId("acc"), payeeIban: "DE89370400440532013000" };

beforeAll(async () => {
  app = await createOwaspApp(clock);
  routes = await documentedRoutes(app);
  admin = await adminTokens(app);
  staff = {} as Record<StaffRole, StaffUser>;
  for (const role of STAFF_ROLES) staff[role] = await newStaffUser(role);
  const unpaidAlice = await newHolder("alice");
  const unpaidBob = await newHolder("bob");
  alice = { ...unpaidAlice, transfer: await pay(unpaidAlice, unpaidBob) };
  bob = { ...unpaidBob, transfer: await pay(unpaidBob, unpaidAlice) };
});

afterAll(async () => {
  await app?.destroy();
});

async function newStaffUser(role: StaffRole): Promise<StaffUser> {
  const user = await createStaff(app, admin, role);
  return { email: user.email, token: (await staffLogin(app, user.email, PASSWORD)).accessToken };
}

async function newHolder(label: string): Promise<Omit<Holder, "transfer">> {
  const deviceId = `${label}-phone-1`;
  const { customerId, tokens } = await signedInCustomer(app, { "x-device-id": deviceId });
  const token = tokens.accessToken;
  const account = await openAccount(app, token);
  await deposit(app, staff.teller.token, account.id, eur("100.00"));
  const started = await app.http.inject({
    method: "POST",
    url: "/v1/auth/passkeys/registration/options",
    headers: bearer(token),
  });
  expect(started.statusCode, started.body).toBe(200);
  const payee = await app.http.inject({
    method: "POST",
    url: "/v1/payees",
    headers: bearer(token),
    payload: { name: "Somebody Else", iban: "DE89370400440532013000" },
  });
  expect(payee.statusCode, payee.body).toBe(201);
  const scheduled = await app.http.inject({
    method: "POST",
    url: "/v1/scheduled-transfers",
    headers: bearer(token),
    payload: {
      fromAccountId: account.id,
      toIban: "DE89370400440532013000",
      amount: eur("1.00"),
      frequency: "monthly",
      firstRunOn: "2099-01-01",
    },
  });
  expect(scheduled.statusCode, scheduled.body).toBe(201);
  const application = await app.http.inject({
    method: "POST",
    url: "/v1/onboarding/applications",
    headers: bearer(token),
  });
  expect(application.statusCode, application.body).toBe(201);
  return {
    applicationId: application.json<{ id: string }>().id,
    scheduledId: scheduled.json<{ id: string }>().id,
    payeeId: payee.json<{ payee: { id: string } }>().payee.id,
    customerId,
    token,
    sessionId: String(decodeClaims(token).sid),
    deviceId,
    account,
    transferKey: idempotencyKey("bola"),
    challengeId: started.json<{ challengeId: string }>().challengeId,
  };
}

/** Each pays the other once, so each has a transfer of their own and a received one. */
async function pay(payer: Omit<Holder, "transfer">, payee: Omit<Holder, "transfer">): Promise<TransferDto> {
  const response = await transferRequest(
    app,
    payer.token,
    { fromAccountId: payer.account.id, toIban: payee.account.iban, amount: eur("1.00") },
    payer.transferKey,
  );
  expect(response.statusCode, response.body).toBe(201);
  return response.json<TransferDto>();
}

function staffRoutes(): DocumentedRoute[] {
  return routes.filter((route) => route.audience === "staff");
}

function customerRoutes(): DocumentedRoute[] {
  return routes.filter((route) => route.audience === "customer");
}

function allowedRoles(route: DocumentedRoute): StaffAccess {
  const entry = ALLOWED_ROLES[route.key];
  if (!entry) throw new Error(`${route.key} is a staff route missing from ALLOWED_ROLES`);
  return entry;
}

/** A route that ends the caller's session gets a session of its own, so the others stay usable. */
async function staffToken(role: StaffRole, route: DocumentedRoute): Promise<string> {
  if (!allowedRoles(route).endsSession) return staff[role].token;
  return (await staffLogin(app, staff[role].email, PASSWORD)).accessToken;
}

function bodyFor(route: DocumentedRoute, context: BodyContext) {
  return route.hasBody ? validBody(route, context) : undefined;
}

describe("API5 function-level authorisation", () => {
  it("classifies every staff route of the OpenAPI document, and nothing else", () => {
    expectSoundEnumeration(routes);
    expect(
      staffRoutes()
        .map((route) => route.key)
        .sort(),
    ).toEqual(Object.keys(ALLOWED_ROLES).sort());
  });

  it("lets each staff role through exactly the staff routes the table allows it, and answers 403 otherwise", async () => {
    const pairs = staffRoutes().flatMap((route) => STAFF_ROLES.map((role) => ({ route, role })));
    await checkAll(
      pairs,
      ({ route, role }) => `${route.key} as ${role}`,
      async ({ route, role }) => {
        const response = await callRoute(app, route, {
          headers: bearer(await staffToken(role, route)),
          payload: bodyFor(route, NOWHERE),
        });
        if (allowedRoles(route).roles.includes(role)) {
          expect([401, 403], response.body).not.toContain(response.statusCode);
        } else {
          expectProblem(response, 403, "forbidden");
        }
      },
    );
  });

  it("answers 401 to a customer on every staff route", async () => {
    await forEveryRoute(staffRoutes(), async (route) => {
      const response = await callRoute(app, route, {
        headers: bearer(alice.token),
        payload: bodyFor(route, NOWHERE),
      });
      expectProblem(response, 401, "unauthorized");
    });
  });

  it("answers 401 to every staff role on every customer route", async () => {
    const pairs = customerRoutes().flatMap((route) => STAFF_ROLES.map((role) => ({ route, role })));
    await checkAll(
      pairs,
      ({ route, role }) => `${route.key} as ${role}`,
      async ({ route, role }) => {
        const response = await callRoute(app, route, {
          headers: bearer(staff[role].token),
          payload: bodyFor(route, { accountId: alice.account.id, payeeIban: bob.account.iban }),
        });
        expectProblem(response, 401, "unauthorized");
      },
    );
  });

  it("answers 404 when an allowed staff member acts on a customer or account that does not exist", async () => {
    const withIds = staffRoutes().filter((route) => route.pathParams.length > 0);
    await forEveryRoute(withIds, async (route) => {
      const role = allowedRole(route);
      const response = await callRoute(app, route, {
        headers: bearer(staff[role].token),
        payload: bodyFor(route, NOWHERE),
      });
      expectProblem(response, 404, "not-found");
    });
  });

  it("a staff member cannot end one customer's session by naming another customer", async () => {
    const response = await app.http.inject({
      method: "DELETE",
      url: `/v1/staff/customers/${bob.customerId}/sessions/${alice.sessionId}`,
      headers: bearer(staff.agent.token),
    });
    expectProblem(response, 404, "not-found");
    expect(await signedIn(alice)).toBe(true);
  });
});

describe("API1 object-level authorisation between two customers", () => {
  it("has a case for every customer route with a path id", () => {
    const withIds = customerRoutes().filter((route) => route.pathParams.length > 0);
    expect(withIds.map((route) => route.key).sort()).toEqual(Object.keys(BOLA_CASES).sort());
  });

  it("answers B exactly as for an object that does not exist when B names A's object, never 2xx or 403", async () => {
    const withIds = customerRoutes().filter((route) => route.pathParams.length > 0);
    const context: BodyContext = { accountId: bob.account.id, payeeIban: alice.account.iban };
    await forEveryRoute(withIds, async (route) => {
      const bolaCase = BOLA_CASES[route.key];
      if (!bolaCase) throw new Error("no BOLA case");
      const headers = bearer(bob.token);
      const payload = bodyFor(route, context);
      const theirs = await callRoute(app, route, { headers, params: bolaCase.params(alice), payload });
      expectProblem(theirs, bolaCase.status, bolaCase.slug);
      const missing = await callRoute(app, route, { headers, payload });
      expect(comparable(theirs)).toEqual(comparable(missing));
    });
  });

  it("leaves A's objects as they were", async () => {
    expect(await signedIn(alice)).toBe(true);
    expect((await getAccount(app, alice.token, alice.account.id)).id).toBe(alice.account.id);
    const ownTransfer = await app.http.inject({
      method: "GET",
      url: `/v1/transfers/${alice.transfer.id}`,
      headers: bearer(alice.token),
    });
    expect(ownTransfer.statusCode, ownTransfer.body).toBe(200);
    const devices = await app.http.inject({
      method: "GET",
      url: "/v1/auth/devices",
      headers: bearer(alice.token),
    });
    expect(devices.json<{ items: Array<{ deviceId: string }> }>().items.map((item) => item.deviceId)).toEqual(
      [alice.deviceId],
    );
  });

  it("B cannot move money out of A's account: 404 as for an account that does not exist, nothing booked", async () => {
    const before = await balances();
    const theirs = await transferRequest(app, bob.token, {
      fromAccountId: alice.account.id,
      toIban: bob.account.iban,
      amount: eur("50.00"),
    });
    const missing = await transferRequest(app, bob.token, {
      fromAccountId: neverIssuedId("acc"),
      toIban: bob.account.iban,
      amount: eur("50.00"),
    });
    expectProblem(theirs, 404, "not-found");
    expect(comparable(theirs)).toEqual(comparable(missing));
    expect(await balances()).toEqual(before);
  });

  it("B replaying A's Idempotency-Key and body gets none of A's transfer back", async () => {
    const before = await balances();
    const replay = await transferRequest(
      app,
      bob.token,
      { fromAccountId: alice.account.id, toIban: bob.account.iban, amount: eur("1.00") },
      alice.transferKey,
    );
    expectProblem(replay, 404, "not-found");
    expect(replay.body).not.toContain(alice.transfer.id);
    expect(await balances()).toEqual(before);
  });
});

async function signedIn(holder: Holder): Promise<boolean> {
  const response = await app.http.inject({
    method: "GET",
    url: "/v1/auth/sessions",
    headers: bearer(holder.token),
  });
  if (response.statusCode !== 200) return false;
  return response.json<{ items: Array<{ id: string }> }>().items.some((item) => item.id === holder.sessionId);
}

function balances() {
  return snapshot(app, [
    { token: alice.token, accountId: alice.account.id },
    { token: bob.token, accountId: bob.account.id },
  ]);
}
