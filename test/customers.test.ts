import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemContext } from "../src/platform/context.ts";
import { createTestApp, type TestApp } from "./helpers/test-app.ts";
import {
  auditRecords,
  bearer,
  decodeClaims,
  expectProblem,
  outboxEvents,
  signedInCustomer,
} from "./identity.helpers.ts";

let app: TestApp;

beforeAll(async () => {
  // These tests sign in far more often than a person would; security.test.ts covers the limit.
  app = await createTestApp({ env: { OMNICORE_RATE_LIMIT_AUTH_PER_MINUTE: "1000" } });
});

afterAll(async () => {
  await app?.destroy();
});

const address = { line1: "Unter den Linden 1", postalCode: "10117", city: "Berlin", country: "DE" };

function patchMe(accessToken: string, payload: Record<string, unknown>) {
  return app.http.inject({ method: "PATCH", url: "/v1/customers/me", headers: bearer(accessToken), payload });
}

function getMe(accessToken: string) {
  return app.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(accessToken) });
}

describe("profile updates", () => {
  it("changes phone, preferred language and address, and emits customer.updated with the field names", async () => {
    const { customerId, tokens } = await signedInCustomer(app);
    const response = await patchMe(tokens.accessToken, {
      phone: "+4915112345678",
      preferredLanguage: "de-de",
      address,
    });
    expect(response.statusCode, response.body).toBe(200);
    const expected = { phone: "+4915112345678", preferredLanguage: "de-DE", address };
    expect(response.json()).toMatchObject(expected);
    expect((await getMe(tokens.accessToken)).json()).toMatchObject({ id: customerId, ...expected });

    const events = await outboxEvents(app, "customer.updated", customerId);
    expect(events).toHaveLength(1);
    expect(events[0]?.data).toEqual({ customerId, fields: ["phone", "preferredLanguage", "address"] });
    expect(events[0]?.actorId).toBe(customerId);
    const audit = await auditRecords(app, "customer.profile_updated");
    expect(audit.find((record) => record.subject_id === customerId)?.details).toEqual({
      fields: ["phone", "preferredLanguage", "address"],
    });
  });

  it("records only the fields that really changed, and nothing when nothing changed", async () => {
    const { customerId, tokens } = await signedInCustomer(app);
    await patchMe(tokens.accessToken, { phone: "+4915112345678", address });
    await patchMe(tokens.accessToken, { phone: "+4915112345678", address: { ...address } });
    await patchMe(tokens.accessToken, { phone: "+4915199999999", address });
    const events = await outboxEvents(app, "customer.updated", customerId);
    expect(events.map((event) => event.data.fields)).toEqual([["phone", "address"], ["phone"]]);
  });

  it("clears a field with null", async () => {
    const { tokens } = await signedInCustomer(app);
    await patchMe(tokens.accessToken, { phone: "+4915112345678", address });
    const response = await patchMe(tokens.accessToken, { phone: null, address: null });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({ phone: null, address: null });
  });

  it.each([
    ["email", { email: "new@example.com" }],
    ["givenName", { givenName: "Eve" }],
    ["familyName", { familyName: "Mallory" }],
    ["status", { status: "closed" }],
    ["id", { id: "cus_00000000000000000000000000000000" }],
  ])("refuses a change of %s as a validation problem and changes nothing", async (field, payload) => {
    const { tokens } = await signedInCustomer(app);
    const before = (await getMe(tokens.accessToken)).json();
    const response = await patchMe(tokens.accessToken, { phone: "+4915112345678", ...payload });
    expectProblem(response, 400, "validation");
    expect(response.json<{ errors: { pointer: string }[] }>().errors[0]?.pointer).toBe(`body/${field}`);
    expect((await getMe(tokens.accessToken)).json()).toEqual(before);
  });

  it.each([
    ["a phone number not in E.164", { phone: "0151 1234567" }],
    ["a country that is not ISO 3166 alpha-2", { address: { ...address, country: "Germany" } }],
    ["an address with an unknown field", { address: { ...address, state: "BE" } }],
    ["an address without a city", { address: { line1: "x", postalCode: "1", country: "DE" } }],
    ["a language that is not a BCP 47 tag", { preferredLanguage: "english please" }],
  ])("refuses %s", async (_label, payload) => {
    const { tokens } = await signedInCustomer(app);
    expectProblem(await patchMe(tokens.accessToken, payload), 400, "validation");
  });

  it("requires a customer access token", async () => {
    const response = await app.http.inject({
      method: "PATCH",
      url: "/v1/customers/me",
      payload: { phone: null },
    });
    expectProblem(response, 401, "unauthorized");
  });
});

describe("ownership", () => {
  it("shows every customer only their own profile; there is no route that takes a customer id", async () => {
    const alice = await signedInCustomer(app);
    const bob = await signedInCustomer(app);
    expect((await getMe(alice.tokens.accessToken)).json()).toMatchObject({
      id: alice.customerId,
      email: alice.email,
    });
    expect((await getMe(bob.tokens.accessToken)).json()).toMatchObject({
      id: bob.customerId,
      email: bob.email,
    });
    const probe = await app.http.inject({
      method: "GET",
      url: `/v1/customers/${bob.customerId}`,
      headers: bearer(alice.tokens.accessToken),
    });
    expectProblem(probe, 404, "not-found");
  });

  it("refuses, in the service too, a customer changing another customer's profile", async () => {
    const alice = await signedInCustomer(app);
    const bob = await signedInCustomer(app);
    const aliceContext = {
      ...systemContext("test"),
      channel: "web" as const,
      actor: {
        type: "customer" as const,
        id: alice.customerId,
        sessionId: String(decodeClaims(alice.tokens.accessToken).sid),
      },
    };
    await expect(
      app.services.customers.updateProfile(aliceContext, bob.customerId, { phone: "+4915112345678" }),
    ).rejects.toMatchObject({ slug: "forbidden" });
    expect((await getMe(bob.tokens.accessToken)).json()).toMatchObject({ phone: null });
  });
});
