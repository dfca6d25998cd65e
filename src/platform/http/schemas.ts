import { Type } from "typebox";
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
