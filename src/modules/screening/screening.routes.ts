import { type TSchema, Type } from "typebox";
import type { Guards } from "../../platform/http/auth.ts";
import { problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import type { ScreeningService } from "./screening.service.ts";

function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

const HIT_ID_PATTERN = "^sch_[0-9a-f]{32}$";
const HITS_PAGE_MAX = 100;

const HitSchema = Type.Object({
  id: Type.String(),
  screeningId: Type.String(),
  customerId: Type.String(),
  listSource: Type.Enum(["ofac", "pep"]),
  listVersionId: Type.String(),
  sourceRef: Type.String({ description: "The list's own id of the entry (OFAC ent_num)" }),
  entryType: Type.Enum(["individual", "entity", "vessel", "aircraft"]),
  listedName: Type.String(),
  matchedName: Type.String({ description: "The listed name or alias that matched" }),
  matchedAs: Type.Enum(["name", "alias"]),
  score: Type.Number({ minimum: 0, maximum: 1 }),
  nameScore: Type.Number({ minimum: 0, maximum: 1 }),
  matchedFields: Type.Array(Type.Enum(["name", "alias", "dob", "country"])),
  programs: Type.Array(Type.String()),
  position: Nullable(Type.String()),
  status: Type.Enum(["open", "false_positive", "confirmed"]),
  decisionReason: Nullable(Type.String()),
  decidedBy: Nullable(Type.String()),
  decidedAt: Nullable(Type.String({ format: "date-time" })),
  createdAt: Type.String({ format: "date-time" }),
});

const HitParams = Type.Object({ id: Type.String({ pattern: HIT_ID_PATTERN }) });

const DecisionBody = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 2_000, description: "Why; kept in the audit trail" }) },
  { additionalProperties: false },
);

/** Screening hits are the compliance team's to decide: analysts and admins, every decision audited. */
export function registerScreeningRoutes(
  app: HttpServer,
  deps: { screening: ScreeningService; guards: Guards },
): void {
  const { screening, guards } = deps;
  const preValidation = guards.staff("compliance_analyst", "admin");
  const tags = ["staff", "screening"];
  const security = [{ staffToken: [] }];
  const decided = { 200: HitSchema, ...problemResponses(400, 401, 403, 404, 409) };

  app.get(
    "/v1/staff/screening/hits",
    {
      preValidation,
      schema: {
        tags,
        security,
        summary: "Open sanctions and PEP screening hits, oldest first",
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: HITS_PAGE_MAX, default: 50 }),
            cursor: Type.Optional(Type.String({ pattern: HIT_ID_PATTERN })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(HitSchema), nextCursor: Nullable(Type.String()) }),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => screening.openHits(request.query),
  );

  app.post(
    "/v1/staff/screening/hits/:id/false-positive",
    {
      preValidation,
      schema: {
        tags,
        security,
        summary: "Dismiss a hit: not this person. Remembered for this customer and list entry",
        params: HitParams,
        body: DecisionBody,
        response: decided,
      },
    },
    async (request) =>
      screening.decideHit(request.caller, request.params.id, "false_positive", request.body.reason),
  );

  app.post(
    "/v1/staff/screening/hits/:id/confirm",
    {
      preValidation,
      schema: {
        tags,
        security,
        summary: "Confirm a hit: the customer is the listed party",
        params: HitParams,
        body: DecisionBody,
        response: decided,
      },
    },
    async (request) =>
      screening.decideHit(request.caller, request.params.id, "confirmed", request.body.reason),
  );
}
