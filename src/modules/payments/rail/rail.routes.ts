import { Type } from "typebox";
import { problemResponses } from "../../../platform/http/schemas.ts";
import type { HttpServer } from "../../../platform/http/server.ts";
import { RAIL_SIGNATURE_HEADER } from "../../../platform/webhook-signature.ts";
import { RAIL_MESSAGE_MAX_BYTES } from "./iso20022.ts";
import type { RailService } from "./rail.service.ts";

const XML_TYPES = ["application/xml", "text/xml"];

/**
 * The payment rail's webhook: status reports, returns and credits from other banks, as ISO 20022
 * XML signed with HMAC over the raw body. It carries no bearer token (the rail is not a user);
 * the signature is the authentication, checked before anything is parsed.
 */
export function registerRailRoutes(app: HttpServer, deps: { rail: RailService }): void {
  app.register(async (scope) => {
    // The signature is over the exact bytes, so the body stays the raw string the rail sent.
    scope.addContentTypeParser(
      XML_TYPES,
      { parseAs: "string", bodyLimit: RAIL_MESSAGE_MAX_BYTES },
      (_request, body, done) => done(null, body),
    );
    scope.post(
      "/v1/rail/callbacks",
      {
        schema: {
          tags: ["payment rail"],
          security: [{ railSignature: [] }],
          summary:
            "Messages from the payment rail: pacs.002 status reports, pacs.004 returns, pacs.008 credits",
          description:
            `Signed with HMAC-SHA256 over \`<timestamp>.<raw body>\` in \`${RAIL_SIGNATURE_HEADER}: t=<unix s>,v1=<hex>\`. ` +
            "A bad, missing or stale signature answers 401 `webhook-signature-invalid`. A message already " +
            "applied (the rail retries until it sees a 2xx) answers 200 with `duplicate: true` and changes nothing.",
          consumes: XML_TYPES,
          headers: Type.Object({
            [RAIL_SIGNATURE_HEADER]: Type.Optional(Type.String({ maxLength: 1_000 })),
            "x-rail-message-type": Type.Optional(Type.String({ maxLength: 40 })),
          }),
          body: Type.String({ minLength: 1, maxLength: RAIL_MESSAGE_MAX_BYTES }),
          response: {
            200: Type.Object({ messageId: Type.String(), duplicate: Type.Boolean() }),
            ...problemResponses(400, 401, 413, 415),
          },
        },
      },
      async (request) => {
        // Validated by the schema above; the plugin scope does not carry the TypeBox types.
        const headers = request.headers as Record<string, string | undefined>;
        return deps.rail.receive(request.body as string, {
          signature: headers[RAIL_SIGNATURE_HEADER],
          messageType: headers["x-rail-message-type"],
        });
      },
    );
  });
}
