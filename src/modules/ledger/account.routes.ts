import { Type } from "typebox";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import {
  AmountSchema,
  decodeCursor,
  encodeCursor,
  OptionalIdempotencyHeaders,
  problemResponses,
} from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import { toAmountDto } from "../../platform/money.ts";
import type { Account, AccountTransaction, LedgerService } from "./ledger.service.ts";

const AccountSchema = Type.Object({
  id: Type.String(),
  iban: Type.String(),
  type: Type.Union([Type.Literal("current"), Type.Literal("savings")]),
  currency: Type.String(),
  status: Type.String(),
  balances: Type.Object({ booked: AmountSchema, available: AmountSchema }),
  createdAt: Type.String({ format: "date-time" }),
});

const TransactionSchema = Type.Object({
  id: Type.String(),
  bookedAt: Type.String({ format: "date-time" }),
  amount: AmountSchema,
  balanceAfter: AmountSchema,
  kind: Type.String(),
  reference: Type.Union([Type.String(), Type.Null()]),
  transferId: Type.Union([Type.String(), Type.Null()]),
});

const AccountParams = Type.Object({ id: Type.String({ pattern: "^acc_[0-9a-f]{32}$" }) });

export function toAccountDto(account: Account) {
  return {
    id: account.id,
    iban: account.iban,
    type: account.type,
    currency: account.currency,
    status: account.status,
    balances: {
      booked: toAmountDto(account.bookedMinor, account.currency),
      available: toAmountDto(account.availableMinor, account.currency),
    },
    createdAt: account.createdAt.toISOString(),
  };
}

function toTransactionDto(item: AccountTransaction) {
  return {
    id: item.id,
    bookedAt: item.bookedAt.toISOString(),
    amount: toAmountDto(item.amountMinor, item.currency),
    balanceAfter: toAmountDto(item.balanceAfterMinor, item.currency),
    kind: item.kind,
    reference: item.reference,
    transferId: item.transferId,
  };
}

function customerId(request: { caller: { actor: { type: string; id?: string } } }): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer" || !actor.id) throw new AppError("unauthorized");
  return actor.id;
}

export function registerAccountRoutes(
  app: HttpServer,
  deps: { ledger: LedgerService; guards: Guards },
): void {
  const { ledger, guards } = deps;
  const tags = ["accounts"];
  const security = [{ customerToken: [] }];

  app.post(
    "/v1/accounts",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "Open a current or savings account in an ISO 4217 currency",
        headers: OptionalIdempotencyHeaders,
        body: Type.Object(
          {
            type: Type.Union([Type.Literal("current"), Type.Literal("savings")]),
            currency: Type.String({ pattern: "^[A-Z]{3}$" }),
          },
          { additionalProperties: false },
        ),
        response: { 201: AccountSchema, ...problemResponses(400, 401, 409, 422) },
      },
    },
    async (request, reply) => {
      const account = await ledger.openAccount(
        request.caller,
        customerId(request),
        request.body,
        request.headers["idempotency-key"],
      );
      return reply.code(201).send(toAccountDto(account));
    },
  );

  app.get(
    "/v1/accounts",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "The caller's accounts with their balances",
        response: { 200: Type.Object({ items: Type.Array(AccountSchema) }), ...problemResponses(401) },
      },
    },
    async (request) => ({ items: (await ledger.listAccounts(customerId(request))).map(toAccountDto) }),
  );

  app.get(
    "/v1/accounts/:id",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "One of the caller's accounts",
        params: AccountParams,
        response: { 200: AccountSchema, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => toAccountDto(await ledger.getAccount(customerId(request), request.params.id)),
  );

  app.get(
    "/v1/accounts/:id/transactions",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "Booked transactions, newest first, with the running balance after each",
        params: AccountParams,
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
            cursor: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(TransactionSchema),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...problemResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const { limit, cursor } = request.query;
      const beforeSeq = cursor === undefined ? undefined : decodeCursor(cursor);
      if (cursor !== undefined && beforeSeq === undefined)
        throw new AppError("validation", "The cursor is not valid.");
      const page = await ledger.history(customerId(request), request.params.id, {
        limit,
        ...(beforeSeq !== undefined ? { beforeSeq } : {}),
      });
      return {
        items: page.items.map(toTransactionDto),
        nextCursor: page.nextBeforeSeq === undefined ? null : encodeCursor(page.nextBeforeSeq),
      };
    },
  );

  app.get(
    "/v1/staff/accounts/:id",
    {
      preValidation: guards.staff("teller", "agent", "admin", "fraud_investigator", "compliance_analyst"),
      schema: {
        tags: ["staff"],
        security: [{ staffToken: [] }],
        summary: "Any customer account, for staff acting for a customer",
        params: AccountParams,
        response: {
          200: Type.Object({ ...AccountSchema.properties, ownerCustomerId: Type.String() }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) => {
      const account = await ledger.getAccountForStaff(request.params.id);
      return { ...toAccountDto(account), ownerCustomerId: account.ownerCustomerId };
    },
  );
}
