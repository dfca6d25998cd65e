import { Type } from "typebox";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { Nullable, problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import { etagOf, SYNC_PAGE_MAX, type SyncService } from "./sync.service.ts";

const SyncItemSchema = Type.Object({
  seq: Type.String({ description: "The change-log seq (a decimal bigint)" }),
  kind: Type.String({
    description: "account, transaction, transfer, payee, notification, security_alert, legacy_payment",
  }),
  op: Type.Union([Type.Literal("upsert"), Type.Literal("remove")]),
  data: Type.Object({}, { additionalProperties: true, description: "The entity as its own route shows it" }),
});

const ProcessedCommandSchema = Type.Object({
  idempotencyKey: Type.String(),
  command: Type.String(),
  statusCode: Type.Integer(),
  resourceId: Nullable(Type.String()),
  processedAt: Type.String({ format: "date-time" }),
});

const SyncPageSchema = Type.Object({
  snapshot: Type.Boolean(),
  items: Type.Array(SyncItemSchema),
  nextCursor: Type.String(),
  hasMore: Type.Boolean(),
  processedCommands: Type.Array(ProcessedCommandSchema),
});

function customerId(request: { caller: { actor: { type: string; id?: string } } }): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer" || !actor.id) throw new AppError("unauthorized");
  return actor.id;
}

export function registerSyncRoutes(app: HttpServer, deps: { sync: SyncService; guards: Guards }): void {
  const { sync, guards } = deps;
  const tags = ["sync"];
  const security = [{ customerToken: [] }];
  // Streams are ended before Fastify waits for open connections, or shutdown would wait for them.
  app.addHook("preClose", async () => {
    await sync.streams.closeAll();
  });

  app.get(
    "/v1/sync",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "What changed for the caller since the cursor (a snapshot without one)",
        description:
          "Pages of the caller's change log, compacted to the latest entry per entity. Without a cursor the " +
          "first page is a bounded snapshot of the current state. A malformed cursor, or one older than the " +
          "log keeps, answers 410 `sync-cursor-expired`: sync again without a cursor. `processedCommands` " +
          "lists the Idempotency-Keys this device's session sent recently, with their outcome. Supports " +
          "`If-None-Match` (304) and gzip/br.",
        querystring: Type.Object(
          {
            // Loose on purpose: a cursor that is not one of ours (empty, too long, mangled by an app
            // update) answers 410 and the client resyncs, where a 400 would leave it stuck. The
            // bound only caps the work of decoding it.
            cursor: Type.Optional(Type.String({ maxLength: 2048 })),
            limit: Type.Integer({ minimum: 1, maximum: SYNC_PAGE_MAX, default: 200 }),
          },
          { additionalProperties: false },
        ),
        headers: Type.Object({ "if-none-match": Type.Optional(Type.String({ maxLength: 200 })) }),
        response: {
          200: SyncPageSchema,
          304: Type.Null({ description: "Nothing changed for the caller since this cursor" }),
          ...problemResponses(400, 401, 410),
        },
      },
    },
    async (request, reply) => {
      const page = await sync.sync(customerId(request), request.caller.deviceId, request.query);
      const etag = etagOf(page);
      reply.header("etag", etag).header("cache-control", "private, no-cache");
      if (request.headers["if-none-match"] === etag) return reply.code(304).send(null);
      return page;
    },
  );

  app.get(
    "/v1/events/stream",
    {
      preValidation: guards.customer,
      schema: {
        tags,
        security,
        summary: "The caller's change-log entries as server-sent events, as they are appended",
        description:
          "`id:` is the log seq, `event:` the kind, `data:` JSON `{seq, kind, op, data}`. Reconnect with " +
          "`Last-Event-ID` to resume after it without gaps or duplicates (410 `sync-cursor-expired` when the " +
          "log no longer reaches back: use GET /v1/sync). Comment lines are heartbeats; at each one the token " +
          "is checked again, and the stream ends once it expired or its session was revoked (reconnect with a " +
          "fresh token). A bounded number of streams per customer (429), each with a bounded lifetime.",
        headers: Type.Object({ "last-event-id": Type.Optional(Type.String({ maxLength: 32 })) }),
        response: {
          200: {
            description: "text/event-stream",
            content: { "text/event-stream": { schema: Type.String() } },
          },
          ...problemResponses(400, 401, 410, 429),
        },
      },
    },
    async (request, reply) => {
      const caller = customerId(request);
      const afterSeq = await sync.streamStart(caller, request.headers["last-event-id"]);
      if (!sync.streams.hasRoom(caller)) {
        throw new AppError("rate-limited", "Too many open event streams for this customer.");
      }
      const headers = {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
        "x-request-id": request.id,
      };
      if (request.method === "HEAD") return reply.code(200).headers(headers).send("");
      reply.hijack();
      reply.raw.writeHead(200, headers);
      reply.raw.write("retry: 3000\n\n");
      sync.streams.open(caller, reply.raw, afterSeq, guards.recheck(request));
    },
  );
}
