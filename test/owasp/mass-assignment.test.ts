import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../../src/platform/clock.ts";
import type { StaffRole } from "../../src/platform/context.ts";
import type { TestApp } from "../helpers/test-app.ts";
import { bearer, expectProblem } from "../identity.helpers.ts";
import {
  type AccountDto,
  type Customer,
  newCustomer,
  newStaff,
  openAccount,
} from "../payments/payments.helpers.ts";
import {
  allowedRole,
  type BodyContext,
  callRoute,
  checkAll,
  createOwaspApp,
  type DocumentedRoute,
  documentedRoutes,
  expectSoundEnumeration,
  forEveryRoute,
  type JsonSchema,
  neverIssuedId,
  VALID_BODIES,
  validBody,
} from "./routes.ts";

/**
 * OWASP API3 (broken object property level authorisation, mass assignment): every body is a
 * closed schema, so a field the client may not set is refused with 400 instead of being stored.
 */

const clock = new ManualClock(new Date("2031-07-07T09:00:00Z"));

/** Fields an attacker would love to set: privileges, state, ownership, money. */
const EXTRA_FIELDS: Record<string, unknown> = {
  role: "admin",
  status: "active",
  customerId: neverIssuedId("cus"),
  ownerCustomerId: neverIssuedId("cus"),
  balance: { amount: "1000000.00", currency: "EUR" },
  isAdmin: true,
};

let app: TestApp;
let routes: DocumentedRoute[];
let customer: Customer;
let staffTokens: Partial<Record<StaffRole, string>>;
let context: BodyContext;

beforeAll(async () => {
  app = await createOwaspApp(clock);
  routes = await documentedRoutes(app);
  customer = await newCustomer(app);
  const account: AccountDto = await openAccount(app, customer.token);
  const payee = await newCustomer(app);
  context = { accountId: account.id, payeeIban: (await openAccount(app, payee.token)).iban };
  staffTokens = {};
  for (const route of routes.filter((candidate) => candidate.audience === "staff" && candidate.hasBody)) {
    const role = allowedRole(route);
    staffTokens[role] ??= (await newStaff(app, role)).token;
  }
});

afterAll(async () => {
  await app?.destroy();
});

/** JSON bodies; a signed webhook's XML body is refused before it is read (authentication.test.ts). */
function bodyRoutes(): DocumentedRoute[] {
  return routes.filter((route) => route.hasBody && route.audience !== "webhook");
}

/** A caller the route's guard lets through, so that the body is what gets judged. */
function headersFor(route: DocumentedRoute): Record<string, string> {
  if (route.audience === "anonymous") return {};
  if (route.audience === "customer") return bearer(customer.token);
  const token = staffTokens[allowedRole(route)];
  if (!token) throw new Error(`no staff token for ${route.key}`);
  return bearer(token);
}

function declared(route: DocumentedRoute): string[] {
  return Object.keys(route.bodySchema?.properties ?? {});
}

/** Where a schema (or any object inside it) would take a property it does not declare. */
function openObjects(schema: JsonSchema, pointer: string): string[] {
  const open: string[] = [];
  if (schema.properties && schema.additionalProperties !== false) open.push(pointer);
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    open.push(...openObjects(child, `${pointer}/${name}`));
  }
  for (const branch of schema.anyOf ?? []) open.push(...openObjects(branch, pointer));
  if (schema.items) open.push(...openObjects(schema.items, `${pointer}/items`));
  return open;
}

interface ValidationProblem {
  errors?: Array<{ pointer: string; message: string }>;
}

/** A 400 from the schema names the field it refused. */
function expectRefusedField(response: Awaited<ReturnType<typeof callRoute>>, pointer: string): void {
  expectProblem(response, 400, "validation");
  expect(response.json<ValidationProblem>().errors).toContainEqual({
    pointer,
    message: "is not an accepted field",
  });
}

describe("API3 mass assignment on every route with a body", () => {
  it("has a valid body for every route that takes one", () => {
    expectSoundEnumeration(routes);
    expect(
      bodyRoutes()
        .map((route) => route.key)
        .sort(),
    ).toEqual(Object.keys(VALID_BODIES).sort());
  });

  it("documents every body as a closed object, nested objects included", async () => {
    await forEveryRoute(bodyRoutes(), async (route) => {
      const schema = route.bodySchema;
      expect(schema?.type).toBe("object");
      expect(openObjects(schema ?? {}, "body")).toEqual([]);
    });
  });

  it("refuses each unknown field with 400 validation naming it", async () => {
    const cases = bodyRoutes().flatMap((route) =>
      Object.keys(EXTRA_FIELDS)
        .filter((field) => !declared(route).includes(field))
        .map((field) => ({ route, field })),
    );
    await checkAll(
      cases,
      ({ route, field }) => `${route.key} + ${field}`,
      async ({ route, field }) => {
        const payload = { ...validBody(route, context), [field]: EXTRA_FIELDS[field] };
        expectRefusedField(
          await callRoute(app, route, { headers: headersFor(route), payload }),
          `body/${field}`,
        );
      },
    );
  });

  it("accepts the same bodies without the extra field, so the refusals above are about that field alone", async () => {
    await forEveryRoute(bodyRoutes(), async (route) => {
      const response = await callRoute(app, route, {
        headers: headersFor(route),
        payload: validBody(route, context),
      });
      // Services may answer 400 too (a wrong current password); only the schema lists `errors`.
      const errors = response.body === "" ? undefined : response.json<ValidationProblem>().errors;
      expect(errors, response.body).toBeUndefined();
      expect(response.statusCode, response.body).toBeLessThan(500);
    });
  });

  it("refuses unknown fields inside nested objects: amounts and addresses", async () => {
    const find = (key: string) => {
      const route = routes.find((candidate) => candidate.key === key);
      if (!route) throw new Error(`${key} is not documented`);
      return route;
    };
    const nested: Array<[string, Record<string, unknown>, string]> = [
      [
        "POST /v1/transfers",
        {
          ...validBody(find("POST /v1/transfers"), context),
          amount: { amount: "1.00", currency: "EUR", fee: "0" },
        },
        "body/amount/fee",
      ],
      [
        "POST /v1/staff/accounts/{id}/deposits",
        { amount: { amount: "1.00", currency: "EUR", valueDate: "2020-01-01" } },
        "body/amount/valueDate",
      ],
      [
        "PATCH /v1/customers/me",
        {
          address: { line1: "1 Main St", postalCode: "10115", city: "Berlin", country: "DE", verified: true },
        },
        "body/address/verified",
      ],
    ];
    await checkAll(
      nested,
      ([key]) => key,
      async ([key, payload, pointer]) => {
        const route = find(key);
        expectRefusedField(await callRoute(app, route, { headers: headersFor(route), payload }), pointer);
      },
    );
  });
});

describe("PATCH /v1/customers/me", () => {
  it("cannot change the e-mail, the status, the names, the id or the creation time, alone or next to allowed fields", async () => {
    const owner = await newCustomer(app);
    const me = () =>
      app.http.inject({ method: "GET", url: "/v1/customers/me", headers: bearer(owner.token) });
    const before = (await me()).json<Record<string, unknown>>();
    const locked: Record<string, unknown> = {
      email: "mallory@example.com",
      status: "closed",
      givenName: "Mallory",
      familyName: "Mallory",
      id: neverIssuedId("cus"),
      createdAt: "2000-01-01T00:00:00.000Z",
    };
    const attempts = Object.entries(locked).flatMap(([field, value]) => [
      { field, payload: { [field]: value } },
      { field, payload: { preferredLanguage: "fr-FR", [field]: value } },
    ]);
    await checkAll(
      attempts,
      ({ payload }) => JSON.stringify(payload),
      async ({ field, payload }) => {
        const response = await app.http.inject({
          method: "PATCH",
          url: "/v1/customers/me",
          headers: bearer(owner.token),
          payload,
        });
        expectRefusedField(response, `body/${field}`);
      },
    );
    expect((await me()).json()).toEqual(before);
  });
});
