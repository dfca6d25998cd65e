import { type TObject, type TProperties, type TSchema, Type } from "typebox";
import { IDEMPOTENCY_KEY_PATTERN } from "../idempotency.ts";

/** Shared wire schemas. Amounts are decimal strings, never JSON numbers. */
export const AmountSchema = Type.Object(
  {
    amount: Type.String({ pattern: "^-?[0-9]{1,18}(\\.[0-9]{1,18})?$", examples: ["125.50"] }),
    currency: Type.String({ pattern: "^[A-Z]{3}$", examples: ["EUR"] }),
  },
  { additionalProperties: false },
);

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.String(),
    requestId: Type.String(),
  },
  { additionalProperties: true, description: "RFC 9457 problem details" },
);

export const IdempotencyHeaders = Type.Object({
  "idempotency-key": Type.String({
    pattern: IDEMPOTENCY_KEY_PATTERN,
    description: "A unique key per intended operation (8-128 characters); retries reuse it.",
  }),
});

export const OptionalIdempotencyHeaders = Type.Object({
  "idempotency-key": Type.Optional(IdempotencyHeaders.properties["idempotency-key"]),
});

export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, ProblemSchema]));
}

/** Opaque cursors: clients must not build them, so they are base64url of what we need. */
export function encodeCursor(value: bigint): string {
  return Buffer.from(`v1:${value}`).toString("base64url");
}

export function decodeCursor(cursor: string): bigint | undefined {
  const text = Buffer.from(cursor, "base64url").toString();
  const match = /^v1:(\d{1,19})$/.exec(text);
  return match ? BigInt(match[1]!) : undefined;
}

export function Nullable<T extends TSchema>(schema: T) {
  return Type.Union([schema, Type.Null()]);
}

export const DateTimeSchema = Type.String({ format: "date-time" });

/** A rule-set version as a path segment; a pattern (not an integer) so malformed ones answer 400, not 404. */
export const RuleSetVersionParams = Type.Object({ version: Type.String({ pattern: "^[1-9][0-9]{0,8}$" }) });

/** A new rule-set version: the module's definition, and whether it becomes the active one at once. */
export function createRuleSetBody<Properties extends TProperties>(definition: TObject<Properties>) {
  return Type.Object(
    {
      ...definition.properties,
      activate: Type.Optional(Type.Boolean({ description: "Make the new version the active one at once" })),
    },
    { additionalProperties: false },
  );
}

/** Sessions of one channel, summed up (the reviewers' cross-channel context). */
export const ChannelSummarySchema = Type.Object({
  channel: Type.String(),
  sessionCount: Type.Integer(),
  deviceIds: Type.Array(Type.String()),
  countries: Type.Array(Type.String()),
  lastSeenAt: DateTimeSchema,
});

/** The query of a review queue ordered by risk: a status, a page size and the cursor of a page. */
export function riskQueueQuerystring<T extends TSchema>(status: T, limitMax: number) {
  return Type.Object(
    {
      status: Type.Optional(status),
      limit: Type.Integer({ minimum: 1, maximum: limitMax, default: 50 }),
      cursor: Type.Optional(Type.String({ maxLength: 200 })),
    },
    { additionalProperties: false },
  );
}

/** One page of a review queue: the cases and the cursor of the next page (null on the last). */
export function riskQueuePageSchema<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), nextCursor: Nullable(Type.String()) });
}
