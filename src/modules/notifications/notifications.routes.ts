import { Type } from "typebox";
import { AppError } from "../../platform/errors.ts";
import type { Guards } from "../../platform/http/auth.ts";
import { Nullable, problemResponses } from "../../platform/http/schemas.ts";
import type { HttpServer } from "../../platform/http/server.ts";
import type { NotificationService } from "./notification.service.ts";
import { CATEGORIES, CHANNELS } from "./preferences.ts";
import { OFFER_CODES, type OfferCode } from "./templates.ts";

const NotificationSchema = Type.Object({
  id: Type.String(),
  category: Type.String({ enum: [...CATEGORIES] }),
  template: Type.String(),
  title: Type.String(),
  body: Type.String({ description: "Plain text with the template's parameters HTML-escaped" }),
  read: Type.Boolean(),
  readAt: Nullable(Type.String({ format: "date-time" })),
  createdAt: Type.String({ format: "date-time" }),
});

const ChannelsSchema = Type.Object({ push: Type.Boolean(), email: Type.Boolean(), sms: Type.Boolean() });
const PreferencesSchema = Type.Object({
  preferences: Type.Object(Object.fromEntries(CATEGORIES.map((category) => [category, ChannelsSchema]))),
});

const PushTokenSchema = Type.Object({
  id: Type.String(),
  platform: Type.String(),
  tokenHint: Type.String({ description: "The token's last four characters; the token is never returned" }),
  active: Type.Boolean(),
  createdAt: Type.String({ format: "date-time" }),
});

const NotificationParams = Type.Object({ id: Type.String({ pattern: "^ntf_[0-9a-f]{32}$" }) });

function customerId(request: { caller: { actor: { type: string; id?: string } } }): string {
  const actor = request.caller.actor;
  if (actor.type !== "customer" || !actor.id) throw new AppError("unauthorized");
  return actor.id;
}

/** Thin handlers: validate, take the customer from the verified token, call one service method. */
export function registerNotificationRoutes(
  app: HttpServer,
  deps: { notifications: NotificationService; guards: Guards },
): void {
  const { notifications, guards } = deps;
  const customer = { preValidation: guards.customer };
  const tags = ["notifications"];
  const security = [{ customerToken: [] }];

  app.get(
    "/v1/notifications",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "The caller's notification centre, newest first, with the number of unread notifications",
        querystring: Type.Object(
          {
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
            cursor: Type.Optional(Type.String({ pattern: "^ntf_[0-9a-f]{32}$" })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(NotificationSchema),
            unreadCount: Type.Integer(),
            nextCursor: Nullable(Type.String()),
          }),
          ...problemResponses(400, 401),
        },
      },
    },
    async (request) => notifications.list(customerId(request), request.query),
  );

  app.post(
    "/v1/notifications/:id/read",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "Mark one of the caller's notifications read",
        params: NotificationParams,
        response: { 200: NotificationSchema, ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => notifications.markRead(request.caller, customerId(request), request.params.id),
  );

  app.post(
    "/v1/notifications/read-all",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "Mark every notification of the caller read",
        response: { 200: Type.Object({ markedCount: Type.Integer() }), ...problemResponses(401) },
      },
    },
    async (request) => notifications.markAllRead(request.caller, customerId(request)),
  );

  app.get(
    "/v1/notifications/preferences",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "The caller's notification preferences per category and channel",
        response: { 200: PreferencesSchema, ...problemResponses(401) },
      },
    },
    async (request) => ({ preferences: await notifications.preferences(customerId(request)) }),
  );

  app.put(
    "/v1/notifications/preferences",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "Switch categories on or off per channel",
        description:
          "Only the named pairs change. Security alerts cannot be switched off: a change that leaves no channel of " +
          "the `security` category on is refused with 422 `security-alerts-required`.",
        body: Type.Object(
          {
            preferences: Type.Array(
              Type.Object(
                {
                  category: Type.String({ enum: [...CATEGORIES] }),
                  channel: Type.String({ enum: [...CHANNELS] }),
                  enabled: Type.Boolean(),
                },
                { additionalProperties: false },
              ),
              { minItems: 1, maxItems: CATEGORIES.length * CHANNELS.length },
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: PreferencesSchema, ...problemResponses(400, 401, 422) },
      },
    },
    async (request) => ({
      preferences: await notifications.updatePreferences(
        request.caller,
        customerId(request),
        request.body.preferences as Parameters<NotificationService["updatePreferences"]>[2],
      ),
    }),
  );

  app.post(
    "/v1/staff/customers/:customerId/offers",
    {
      preValidation: guards.staff("agent", "admin"),
      schema: {
        tags: ["staff"],
        security: [{ staffToken: [] }],
        summary: "Send a customer one of the bank's offers (to the centre and the live stream)",
        description:
          "The offer comes from a fixed catalogue. Push, e-mail and SMS follow the customer's marketing " +
          "preferences, which are off until the customer opts in.",
        params: Type.Object({ customerId: Type.String({ pattern: "^cus_[0-9a-f]{32}$" }) }),
        body: Type.Object(
          { offerCode: Type.String({ enum: [...OFFER_CODES] }) },
          { additionalProperties: false },
        ),
        response: {
          202: Type.Object({ eventId: Type.String() }),
          ...problemResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(202)
        .send(
          await notifications.sendOffer(
            request.caller,
            request.params.customerId,
            request.body.offerCode as OfferCode,
          ),
        ),
  );

  app.post(
    "/v1/notifications/push-tokens",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "Register the push token of one of the caller's devices",
        body: Type.Object(
          {
            token: Type.String({ minLength: 8, maxLength: 4096, pattern: "^[A-Za-z0-9:_\\-.]+$" }),
            platform: Type.String({ enum: ["ios", "android", "web"] }),
          },
          { additionalProperties: false },
        ),
        response: { 201: PushTokenSchema, ...problemResponses(400, 401) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(await notifications.registerPushToken(request.caller, customerId(request), request.body)),
  );

  app.delete(
    "/v1/notifications/push-tokens/:id",
    {
      ...customer,
      schema: {
        tags,
        security,
        summary: "Remove one of the caller's push tokens (the device is told nothing more)",
        params: Type.Object({ id: Type.String({ pattern: "^ptk_[0-9a-f]{32}$" }) }),
        response: { 204: Type.Null(), ...problemResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await notifications.removePushToken(request.caller, customerId(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
}
