import { type TSchema, Type } from "typebox";
import type { Guards } from "../../platform/http/auth.ts";
import {
  AmountSchema,
  ChannelSummarySchema,
  createRuleSetBody,
  DateTimeSchema,
  Nullable,
  problemResponses,
  RuleSetVersionParams,
  riskQueuePageSchema,
  riskQueueQuerystring,
} from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import type { AmlService } from "./aml.service.ts";
import type { CASE_STATUSES } from "./aml.tables.ts";
import { type ComplianceCaseService, NOTE_LENGTH_MAX, QUEUE_PAGE_MAX } from "./compliance-case.service.ts";
import { AmlRuleSchema, AmlRuleSetDefinitionSchema } from "./rules.ts";

const DateTime = DateTimeSchema;
const StatusSchema = Type.Union([
  Type.Literal("open"),
  Type.Literal("escalated"),
  Type.Literal("closed_false_positive"),
  Type.Literal("reported"),
]) satisfies TSchema & { anyOf: Array<{ const: (typeof CASE_STATUSES)[number] }> };

const RuleSetSchema = Type.Object({
  version: Type.Integer(),
  currency: Type.String(),
  rules: Type.Array(AmlRuleSchema),
  createdBy: Type.String(),
  createdAt: DateTime,
  active: Type.Boolean(),
});

const CreateRuleSetBody = createRuleSetBody(AmlRuleSetDefinitionSchema);

const CaseSchema = Type.Object({
  id: Type.String(),
  customerId: Type.String(),
  status: StatusSchema,
  riskScore: Type.Integer({ description: "Sum of the alerts' scores, at most 100" }),
  alertsCount: Type.Integer(),
  openedAt: DateTime,
  updatedAt: DateTime,
  escalatedAt: Nullable(DateTime),
  escalatedBy: Nullable(Type.String()),
  accountsFrozenAt: Nullable(DateTime),
  accountsFrozenBy: Nullable(Type.String()),
  closedAt: Nullable(DateTime),
  closedBy: Nullable(Type.String()),
  resolution: Nullable(Type.Union([Type.Literal("false_positive"), Type.Literal("reported")])),
  reportId: Nullable(Type.String()),
});

const AlertSchema = Type.Object({
  id: Type.String(),
  caseId: Type.String(),
  ruleCode: Type.String(),
  ruleKind: Type.String(),
  ruleSetVersion: Type.Integer(),
  riskScore: Type.Integer(),
  summary: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
  triggersCount: Type.Integer(),
  raisedAt: DateTime,
  lastTriggeredAt: DateTime,
  transactionIds: Type.Array(Type.String()),
});

const TransactionSchema = Type.Object({
  transactionId: Type.String(),
  accountId: Type.String(),
  kind: Type.String(),
  direction: Type.Union([Type.Literal("in"), Type.Literal("out")]),
  amount: AmountSchema,
  counterpartyIban: Nullable(Type.String()),
  counterpartyCountry: Nullable(Type.String()),
  ownTransfer: Type.Boolean(),
  occurredAt: DateTime,
});

const NoteSchema = Type.Object({
  id: Type.String(),
  authorId: Type.String(),
  text: Type.String(),
  createdAt: DateTime,
});

const AccountSchema = Type.Object({
  id: Type.String(),
  iban: Type.String(),
  type: Type.String(),
  currency: Type.String(),
  status: Type.String(),
  booked: AmountSchema,
  available: AmountSchema,
  openedAt: DateTime,
});

/** The other modules' parts of the context, documented loosely: their own routes define them. */
const Records = (description: string) => Type.Array(Type.Unknown(), { description });

const ContextSchema = Type.Object({
  case: CaseSchema,
  alerts: Type.Array(AlertSchema),
  transactions: Type.Array(TransactionSchema, {
    description: "The movements behind the alerts, oldest first",
  }),
  notes: Type.Array(NoteSchema),
  customer: Nullable(Type.Record(Type.String(), Type.Unknown())),
  accounts: Type.Array(AccountSchema),
  channels: Type.Array(ChannelSummarySchema),
  sessions: Records("Recent sessions, newest first"),
  devices: Records("Devices the customer signed in from"),
  recentPayments: Records("Recent outgoing transfers, newest first"),
  payees: Records("Saved payees"),
  securityEvents: Records("Recent security events from the audit trail, newest first"),
  earlierCases: Type.Array(CaseSchema),
});

const ActionResultSchema = Type.Object({ case: CaseSchema, accountsFrozen: Type.Array(Type.String()) });

const ReportSchema = Type.Object({
  id: Type.String(),
  caseId: Type.String(),
  customerId: Type.String(),
  filedBy: Type.String(),
  filedAt: DateTime,
  document: Type.Record(Type.String(), Type.Unknown(), {
    description: "The suspicious-activity report export (format omnicore.suspicious-activity-report.v1)",
  }),
});

const CaseParams = Type.Object({ id: Type.String({ pattern: "^cmc_[0-9a-f]{32}$" }) });
const ReportParams = Type.Object({ id: Type.String({ pattern: "^sar_[0-9a-f]{32}$" }) });
const Text = (description: string) => Type.String({ minLength: 1, maxLength: NOTE_LENGTH_MAX, description });
const OptionalNoteBody = Type.Object(
  { note: Type.Optional(Text("Recorded as a note on the case")) },
  {
    additionalProperties: false,
  },
);

const STAFF = { tags: ["compliance"], security: [{ staffToken: [] }] };

interface Deps {
  aml: AmlService;
  cases: ComplianceCaseService;
  guards: Guards;
}

/** AML rule sets and compliance cases belong to compliance analysts (and admins); every change is audited. */
export function registerAmlRoutes(app: HttpServer, deps: Deps): void {
  registerRuleSetRoutes(app, deps);
  registerQueueRoutes(app, deps);
  registerActionRoutes(app, deps);
}

function registerRuleSetRoutes(app: HttpServer, { aml, guards }: Deps): void {
  const preValidation = guards.staff("compliance_analyst", "admin");
  app.get(
    "/v1/staff/compliance/rule-sets",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "The AML rule-set versions, newest first (at most 100)",
        response: { 200: Type.Object({ items: Type.Array(RuleSetSchema) }), ...problemResponses(401, 403) },
      },
    },
    async () => ({ items: await aml.listRuleSets() }),
  );

  app.get(
    "/v1/staff/compliance/rule-sets/active",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "The AML rule set money events are evaluated with now",
        response: { 200: RuleSetSchema, ...problemResponses(401, 403, 404) },
      },
    },
    async () => aml.activeRuleSet(),
  );

  app.post(
    "/v1/staff/compliance/rule-sets",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Create a new AML rule-set version, optionally active at once",
        description:
          "Each rule is a pattern (kind) with its thresholds; amounts are minor units of `currency`.",
        body: CreateRuleSetBody,
        response: { 201: RuleSetSchema, ...problemResponses(400, 401, 403, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await aml.createRuleSet(request.caller, request.body)),
  );

  app.post(
    "/v1/staff/compliance/rule-sets/:version/activate",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Make an existing version the active AML rule set",
        params: RuleSetVersionParams,
        response: { 200: RuleSetSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => aml.activateRuleSet(request.caller, Number(request.params.version)),
  );
}

function registerQueueRoutes(app: HttpServer, { cases, guards }: Deps): void {
  const preValidation = guards.staff("compliance_analyst", "admin");
  app.get(
    "/v1/staff/compliance/cases",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "The compliance queue: highest risk first, then the oldest (open cases unless told)",
        querystring: riskQueueQuerystring(StatusSchema, QUEUE_PAGE_MAX),
        response: {
          200: riskQueuePageSchema(CaseSchema),
          ...problemResponses(400, 401, 403),
        },
      },
    },
    async (request) => {
      const { status, limit, cursor } = request.query;
      return cases.queue(status ?? "open", { limit, cursor });
    },
  );

  app.get(
    "/v1/staff/compliance/cases/:id",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary:
          "One compliance case with its alerts, their transactions and the customer's whole context (audited)",
        params: CaseParams,
        response: { 200: ContextSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => cases.context(request.caller, request.params.id),
  );

  app.get(
    "/v1/staff/compliance/reports/:id",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "A filed suspicious-activity report, as exported (the read is audited)",
        params: ReportParams,
        response: { 200: ReportSchema, ...problemResponses(400, 401, 403, 404) },
      },
    },
    async (request) => cases.report(request.caller, request.params.id),
  );
}

function registerActionRoutes(app: HttpServer, { cases, guards }: Deps): void {
  const preValidation = guards.staff("compliance_analyst", "admin");
  const responses = { 200: ActionResultSchema, ...problemResponses(400, 401, 403, 404, 409) };
  app.post(
    "/v1/staff/compliance/cases/:id/close",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Close the case as a false positive, with the reason",
        params: CaseParams,
        body: Type.Object(
          { reason: Text("Why the alerts are not suspicious") },
          { additionalProperties: false },
        ),
        response: responses,
      },
    },
    async (request) => cases.closeAsFalsePositive(request.caller, request.params.id, request.body.reason),
  );

  app.post(
    "/v1/staff/compliance/cases/:id/escalate",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Escalate an open case to the senior analyst's queue (status escalated)",
        params: CaseParams,
        body: OptionalNoteBody,
        response: responses,
      },
    },
    async (request) => cases.escalate(request.caller, request.params.id, request.body.note),
  );

  app.post(
    "/v1/staff/compliance/cases/:id/freeze",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Freeze every active account of the customer; the case stays open",
        params: CaseParams,
        body: OptionalNoteBody,
        response: responses,
      },
    },
    async (request) => cases.freeze(request.caller, request.params.id, request.body.note),
  );

  app.post(
    "/v1/staff/compliance/cases/:id/reports",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "File a suspicious-activity report (stored JSON export); the case closes as reported",
        params: CaseParams,
        body: Type.Object(
          { narrative: Text("The analyst's account of the suspicion") },
          { additionalProperties: false },
        ),
        response: { 201: ReportSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await cases.fileReport(request.caller, request.params.id, request.body.narrative)),
  );

  app.post(
    "/v1/staff/compliance/cases/:id/notes",
    {
      preValidation,
      schema: {
        ...STAFF,
        summary: "Add a note to an open or escalated case",
        params: CaseParams,
        body: Type.Object({ text: Text("The note") }, { additionalProperties: false }),
        response: { 201: NoteSchema, ...problemResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await cases.addNote(request.caller, request.params.id, request.body.text)),
  );
}
