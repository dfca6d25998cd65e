import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import type { DomainEvent } from "../../src/platform/events/event.ts";
import { findOutboxEvents } from "../../src/platform/events/outbox.ts";
import { createTestApp, type TestApp } from "../helpers/test-app.ts";
import {
  adminTokens,
  bearer,
  createStaff,
  decodeClaims,
  expectProblem,
  login,
  PASSWORD,
  signedInCustomer,
  staffLogin,
  type Tokens,
} from "../identity.helpers.ts";

/** Staff ending a customer's sessions for them: who may, what is recorded, and what stays hidden. */

const clock = new ManualClock(new Date("2031-07-08T10:00:00Z"));
/** Well-formed ids that no customer or session has. */
const UNKNOWN_CUSTOMER_ID = `cus_${"0".repeat(32)}`;

let app: TestApp;
let admin: Tokens;
let agent: { id: string; tokens: Tokens };

beforeAll(async () => {
  // These tests sign in far more often than a person would; security.test.ts covers the limits.
  app = await createTestApp({
    clock,
    env: {
      OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "100000",
      OMNICORE_RATE_LIMIT_AUTH_PER_ACCOUNT_PER_MINUTE: "100000",
    },
  });
  admin = await adminTokens(app);
  agent = await staffMember("agent");
});

afterAll(async () => {
  await app?.destroy();
});

async function staffMember(role: string) {
  const user = await createStaff(app, admin, role);
  return { id: user.id, tokens: await staffLogin(app, user.email, user.password) };
}

function sessionIdOf(tokens: Tokens): string {
  return String(decodeClaims(tokens.accessToken).sid);
}

function me(accessToken: string) {
  return app.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(accessToken) });
}

function listFor(staffToken: string, customerId: string) {
  return app.http.inject({
    method: "GET",
    url: `/v1/staff/customers/${customerId}/sessions`,
    headers: bearer(staffToken),
  });
}

function revokeFor(staffToken: string, customerId: string, sessionId: string) {
  return app.http.inject({
    method: "DELETE",
    url: `/v1/staff/customers/${customerId}/sessions/${sessionId}`,
    headers: bearer(staffToken),
  });
}

async function envelopes(type: string, aggregateId: string): Promise<DomainEvent[]> {
  const stored = await findOutboxEvents(app.database.db, { type, aggregateId });
  return stored.map((row) => row.event as DomainEvent);
}

function auditRows(action: string, subjectId: string) {
  return app.database.db
    .selectFrom("platform_audit_log")
    .select(["actor_type", "actor_id", "on_behalf_of", "subject_id", "details"])
    .where("action", "=", action)
    .where("subject_id", "=", subjectId)
    .orderBy("seq")
    .execute();
}

/** A customer signed in on the web and on a phone. */
async function customerOnTwoDevices() {
  const { email, customerId, tokens: web } = await signedInCustomer(app);
  const mobile = await login(app, email, PASSWORD, { "x-channel": "mobile", "x-device-id": "their-phone" });
  return { customerId, web, mobile };
}

describe("an agent acting for a customer", () => {
  it("lists the customer's sessions, and reading them is audited for the customer", async () => {
    const { customerId, web, mobile } = await customerOnTwoDevices();
    const response = await listFor(agent.tokens.accessToken, customerId);
    expect(response.statusCode, response.body).toBe(200);
    const items = response.json<{ items: { id: string; channel: string; current: boolean }[] }>().items;
    expect(items.map((item) => [item.id, item.channel, item.current]).sort()).toEqual(
      [
        [sessionIdOf(web), "web", false],
        [sessionIdOf(mobile), "mobile", false],
      ].sort(),
    );
    expect(await auditRows("staff.customer_sessions_viewed", customerId)).toEqual([
      expect.objectContaining({ actor_type: "staff", actor_id: agent.id, on_behalf_of: customerId }),
    ]);
  });

  it("ends one session at once, recorded as done by the agent on behalf of the customer", async () => {
    const { customerId, web, mobile } = await customerOnTwoDevices();
    const sessionId = sessionIdOf(mobile);
    expect((await me(mobile.accessToken)).statusCode).toBe(200);

    const response = await revokeFor(agent.tokens.accessToken, customerId, sessionId);
    expect(response.statusCode, response.body).toBe(204);
    expectProblem(await me(mobile.accessToken), 401, "unauthorized");
    const refresh = await app.http.inject({
      method: "POST",
      url: "/v1/auth/refresh",
      payload: { refreshToken: mobile.refreshToken },
    });
    expectProblem(refresh, 401, "unauthorized");
    expect((await me(web.accessToken)).statusCode).toBe(200);

    const byAgent = { actorType: "staff", actorId: agent.id, onBehalfOf: customerId };
    const [revoked] = await envelopes("session.revoked", sessionId);
    expect(revoked).toMatchObject({ ...byAgent, data: { sessionId, reason: "revoked_by_staff" } });
    const [security] = await envelopes("security.session_revoked", customerId);
    expect(security).toMatchObject({
      ...byAgent,
      data: {
        kind: "session_revoked",
        subjectType: "customer",
        subjectId: customerId,
        sessionId,
        details: { reason: "revoked_by_staff" },
      },
    });
    expect(await auditRows("security.session_revoked", customerId)).toEqual([
      expect.objectContaining({ actor_type: "staff", actor_id: agent.id, on_behalf_of: customerId }),
    ]);

    const remaining = await listFor(agent.tokens.accessToken, customerId);
    expect(remaining.json<{ items: { id: string }[] }>().items.map((item) => item.id)).toEqual([
      sessionIdOf(web),
    ]);
  });

  it("lets fraud investigators and admins do the same", async () => {
    const { customerId, mobile } = await customerOnTwoDevices();
    const investigator = await staffMember("fraud_investigator");
    expect((await listFor(investigator.tokens.accessToken, customerId)).statusCode).toBe(200);
    expect((await listFor(admin.accessToken, customerId)).statusCode).toBe(200);
    const response = await revokeFor(investigator.tokens.accessToken, customerId, sessionIdOf(mobile));
    expect(response.statusCode, response.body).toBe(204);
  });
});

describe("what staff may not do", () => {
  it.each(["teller", "compliance_analyst"])(
    "refuses a %s with 403 and leaves the session alone",
    async (role) => {
      const { customerId, mobile } = await customerOnTwoDevices();
      const member = await staffMember(role);
      expectProblem(await listFor(member.tokens.accessToken, customerId), 403, "forbidden");
      expectProblem(
        await revokeFor(member.tokens.accessToken, customerId, sessionIdOf(mobile)),
        403,
        "forbidden",
      );
      expect((await me(mobile.accessToken)).statusCode).toBe(200);
    },
  );

  it("refuses a customer's own token on the staff routes", async () => {
    const { customerId, web, mobile } = await customerOnTwoDevices();
    expectProblem(await listFor(web.accessToken, customerId), 401, "unauthorized");
    expectProblem(await revokeFor(web.accessToken, customerId, sessionIdOf(mobile)), 401, "unauthorized");
  });

  it("answers 404 for an unknown customer", async () => {
    const { mobile } = await customerOnTwoDevices();
    expectProblem(await listFor(agent.tokens.accessToken, UNKNOWN_CUSTOMER_ID), 404, "not-found");
    expectProblem(
      await revokeFor(agent.tokens.accessToken, UNKNOWN_CUSTOMER_ID, sessionIdOf(mobile)),
      404,
      "not-found",
    );
    expect((await me(mobile.accessToken)).statusCode).toBe(200);
  });

  it("answers 404 for another customer's session under this customer's path, and leaves it alive", async () => {
    const named = await customerOnTwoDevices();
    const other = await customerOnTwoDevices();
    const response = await revokeFor(agent.tokens.accessToken, named.customerId, sessionIdOf(other.mobile));
    expectProblem(response, 404, "not-found");
    expect((await me(other.mobile.accessToken)).statusCode).toBe(200);
    expect(await envelopes("session.revoked", sessionIdOf(other.mobile))).toEqual([]);
  });
});
