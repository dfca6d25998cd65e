import type { FastifyRequest } from "fastify";
import { Type } from "typebox";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import { STEP_UP_PROOF_HEADER } from "../../platform/step-up.ts";
import {
  COUNTRY_CODE_PATTERN,
  type CustomerProfile,
  type CustomerService,
  E164_PATTERN,
  NAME_LENGTH_MAX,
} from "./customer.service.ts";

const Nullable = <T extends ReturnType<typeof Type.String>>(schema: T) => Type.Union([schema, Type.Null()]);

const AddressSchema = Type.Object(
  {
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    postalCode: Type.String({ minLength: 1, maxLength: 20 }),
    city: Type.String({ minLength: 1, maxLength: NAME_LENGTH_MAX }),
    country: Type.String({
      pattern: COUNTRY_CODE_PATTERN,
      description: "ISO 3166-1 alpha-2",
      examples: ["DE"],
    }),
  },
  { additionalProperties: false },
);

const PhoneSchema = Type.String({
  pattern: E164_PATTERN,
  description: "E.164",
  examples: ["+4915112345678"],
});
const LanguageSchema = Type.String({
  pattern: "^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
  maxLength: 35,
  description: "BCP 47 language tag",
  examples: ["de-DE"],
});

const ProfileSchema = Type.Object({
  id: Type.String(),
  email: Type.String(),
  givenName: Type.String(),
  familyName: Type.String(),
  phone: Nullable(Type.String()),
  preferredLanguage: Nullable(Type.String()),
  address: Type.Union([AddressSchema, Type.Null()]),
  status: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
});

/** Only contact details; e-mail, names and status change through their own, stronger processes. */
const ProfilePatchSchema = Type.Object(
  {
    phone: Type.Optional(Nullable(PhoneSchema)),
    preferredLanguage: Type.Optional(Nullable(LanguageSchema)),
    address: Type.Optional(Type.Union([AddressSchema, Type.Null()])),
  },
  { additionalProperties: false },
);

function toProfileDto(profile: CustomerProfile) {
  return {
    id: profile.id,
    email: profile.email,
    givenName: profile.givenName,
    familyName: profile.familyName,
    phone: profile.phone,
    preferredLanguage: profile.preferredLanguage,
    address: profile.address,
    status: profile.status,
    createdAt: profile.createdAt.toISOString(),
  };
}

/** The customer is always the one in the verified token: there is no route that takes an id. */
function callerCustomerId(request: FastifyRequest): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer") throw new AppError("unauthorized");
  return actor.id;
}

export function registerCustomerRoutes(
  app: HttpServer,
  deps: { customers: CustomerService; guards: Guards },
): void {
  const { customers, guards } = deps;
  const tags = ["customers"];
  const security = [{ customerToken: [] }];

  app.get(
    "/v1/customers/me",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "The caller's own customer profile",
        response: { 200: ProfileSchema, ...problemResponses(401, 404) },
      },
    },
    async (request) => {
      const profile = await customers.get(callerCustomerId(request));
      if (!profile) throw new AppError("not-found", "No customer profile for this token.");
      return toProfileDto(profile);
    },
  );

  app.patch(
    "/v1/customers/me",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "Change the caller's phone, preferred language or postal address (null clears a field)",
        description:
          "A new phone number needs step-up: 401 `step-up-required` until retried with X-Step-Up-Proof.",
        headers: Type.Object({ [STEP_UP_PROOF_HEADER]: Type.Optional(Type.String({ maxLength: 200 })) }),
        body: ProfilePatchSchema,
        response: { 200: ProfileSchema, ...problemResponses(400, 401, 404, 422) },
      },
    },
    async (request) =>
      toProfileDto(
        await customers.updateProfile(
          request.caller,
          callerCustomerId(request),
          request.body,
          request.headers[STEP_UP_PROOF_HEADER],
        ),
      ),
  );
}
