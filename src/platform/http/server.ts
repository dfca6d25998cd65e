import { randomUUID } from "node:crypto";
import { constants as zlibConstants } from "node:zlib";
import compress from "@fastify/compress";
import swagger from "@fastify/swagger";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import scalar from "@scalar/fastify-api-reference";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.ts";
import { type EdgeHeadersConfig, fastifyTrustProxy } from "./client-origin.ts";
import { errorHandler, problemBody, sendProblem } from "./problem.ts";
import { validatorCompiler } from "./validation.ts";

export type HttpServer = FastifyInstance<
  // biome-ignore lint/suspicious/noExplicitAny: Fastify's default generics.
  any,
  // biome-ignore lint/suspicious/noExplicitAny: Fastify's default generics.
  any,
  // biome-ignore lint/suspicious/noExplicitAny: Fastify's default generics.
  any,
  Logger,
  TypeBoxTypeProvider
>;

export interface HttpServerOptions {
  logger: Logger;
  metrics: Metrics;
  bodyLimitBytes: number;
  /** Load balancers whose X-Forwarded-For and geo headers are believed. */
  edge: EdgeHeadersConfig;
  version: string;
  /** Responses at least this large are compressed (br or gzip) for clients that accept it. */
  compressThresholdBytes?: number;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fastify with the house rules: TypeBox schemas validated strictly, problem+json for every error,
 * X-Request-Id accepted or generated and echoed, latency histograms per route, OpenAPI 3.1 at
 * /openapi.json and an interactive reference at /docs.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const app = Fastify({
    loggerInstance: options.logger,
    // Per-request access logs would double the log volume; latency is in /metrics instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    trustProxy: fastifyTrustProxy(options.edge),
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : `req_${randomUUID()}`;
    },
    return503OnClosing: true,
    forceCloseConnections: "idle",
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(validatorCompiler());
  app.setErrorHandler(errorHandler(options.logger));
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problemBody(request, "not-found", `No route ${request.method} ${request.url.split("?")[0]}`),
    ),
  );
  app.addHook("onRequest", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });
  app.addHook("onResponse", async (request, reply) => {
    options.metrics.httpRequestDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? "unmatched",
        status_code: reply.statusCode,
      },
      reply.elapsedTime / 1000,
    );
  });

  // Compression for every JSON (and problem+json) response above the threshold; server-sent event
  // streams are hijacked and never pass through it. Brotli at a middle quality: level 11 costs far
  // more CPU than the bytes it saves on a mobile delta.
  await app.register(compress, {
    global: true,
    threshold: options.compressThresholdBytes ?? 1_024,
    encodings: ["br", "gzip"],
    brotliOptions: { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 5 } },
  });
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Omnicore API",
        version: options.version,
        description:
          "API-first banking backend. Errors are RFC 9457 problem+json; amounts are decimal strings with a currency.",
      },
      components: {
        securitySchemes: {
          customerToken: {
            type: "http",
            scheme: "bearer",
            bearerFormat: "JWT",
            description: "Customer access token",
          },
          staffToken: {
            type: "http",
            scheme: "bearer",
            bearerFormat: "JWT",
            description: "Staff access token",
          },
          railSignature: {
            type: "apiKey",
            in: "header",
            name: "x-rail-signature",
            description:
              "HMAC-SHA256 of `<timestamp>.<raw body>` with the rail's shared secret: t=<unix s>,v1=<hex>",
          },
          kycSignature: {
            type: "apiKey",
            in: "header",
            name: "x-kyc-signature",
            description:
              "HMAC-SHA256 of `<timestamp>.<raw body>` with the KYC provider's shared secret: t=<unix s>,v1=<hex>",
          },
        },
      },
    },
  });
  await app.register(scalar, { routePrefix: "/docs", configuration: { url: "/openapi.json" } });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  return app as unknown as HttpServer;
}
