import { Type } from "typebox";
import type { Guards } from "../../platform/http/auth.ts";
import { createRuleSetBody, problemResponses, RuleSetVersionParams } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import type { FraudService } from "./fraud.service.ts";
import { RuleSchema, RuleSetDefinitionSchema, ThresholdsSchema } from "./rules.ts";

const OutcomeSchema = Type.Enum(["allow", "challenge", "hold", "block"]);
const OutcomeCountsSchema = Type.Object({
  allow: Type.Integer(),
  challenge: Type.Integer(),
  hold: Type.Integer(),
  block: Type.Integer(),
});

const RuleSetSchema = Type.Object({
  version: Type.Integer(),
  rules: Type.Array(RuleSchema),
  thresholds: ThresholdsSchema,
  createdBy: Type.String(),
  createdAt: Type.String({ format: "date-time" }),
  active: Type.Boolean(),
});

const CreateRuleSetBody = createRuleSetBody(RuleSetDefinitionSchema);

/** The largest replay a request may ask for; the configured bound may be lower. */
const DRY_RUN_LIMIT_MAX = 1_000_000;

const DryRunBody = Type.Object(
  {
    ...RuleSetDefinitionSchema.properties,
    since: Type.Optional(
      Type.String({ format: "date-time", description: "Replay decisions made from then on" }),
    ),
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: DRY_RUN_LIMIT_MAX,
        description: "Newest first; 1000 (or the configured bound, if lower) when absent",
      }),
    ),
  },
  { additionalProperties: false },
);

const DryRunReportSchema = Type.Object({
  replayed: Type.Integer(),
  before: OutcomeCountsSchema,
  after: OutcomeCountsSchema,
  changed: Type.Integer({ description: "Decisions whose outcome the candidate changes" }),
  changes: Type.Array(
    Type.Object({
      decisionId: Type.String(),
      before: Type.Object({ outcome: OutcomeSchema, score: Type.Integer(), ruleSetVersion: Type.Integer() }),
      after: Type.Object({
        outcome: OutcomeSchema,
        score: Type.Integer(),
        reasons: Type.Array(Type.String()),
      }),
    }),
    { description: "At most 100, newest first" },
  ),
});

/** Rule sets are the fraud team's to change: investigators and admins, every change audited. */
export function registerFraudRoutes(app: HttpServer, deps: { fraud: FraudService; guards: Guards }): void {
  const { fraud, guards } = deps;
  const preValidation = guards.staff("fraud_investigator", "admin");
  const tags = ["staff", "fraud"];
  const security = [{ staffToken: [] }];

  app.get(
    "/v1/staff/fraud/rule-sets",
    {
      preValidation,
      schema: {
        tags,
        security,
        summary: "The fraud rule-set versions, newest first (at most 100)",
        response: { 200: Type.Object({ items: Type.Array(RuleSetSchema) }), ...problemResponses(401, 403) },
      },
    },
    async () => ({ items: await fraud.listRuleSets() }),
  );

  app.get(
    "/v1/staff/fraud/rule-sets/active",
    {
      preValidation,
      schema: {
        tags,
        security,
        summary: "The rule set that decides payments now",
        response: { 200: RuleSetSchema, ...problemResponses(401, 403, 404) },
      },
    },
    async () => fraud.activeRuleSet(),
  );

  app.post(
    "/v1/staff/fraud/rule-sets",
    {
      preValidation,
      schema: {
        tags,
        security,
        summary: "Create a new rule-set version, optionally active at once",
        description:
          "A rule fires when its feature compares true with its value; the score is the sum of fired weights (at most 100).",
        body: CreateRuleSetBody,
        response: { 201: RuleSetSchema, ...problemResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await fraud.createRuleSet(request.caller, request.body)),
  );

  app.post(
    "/v1/staff/fraud/rule-sets/:version/activate",
    {
      preValidation,
      schema: {
        tags,
        security,
        summary: "Make an existing version the active rule set",
        params: RuleSetVersionParams,
        response: { 200: RuleSetSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => fraud.activateRuleSet(request.caller, Number(request.params.version)),
  );

  app.post(
    "/v1/staff/fraud/rule-sets/dry-run",
    {
      preValidation,
      schema: {
        tags,
        security,
        summary: "Replay a candidate rule set over stored decisions and report what would change",
        body: DryRunBody,
        response: { 200: DryRunReportSchema, ...problemResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { since, limit, ...definition } = request.body;
      return fraud.dryRun({ ...definition, since: since ? new Date(since) : undefined, limit });
    },
  );
}
