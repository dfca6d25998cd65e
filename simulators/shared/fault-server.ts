import { createHash, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { type TProperties, Type } from "typebox";
import { validatorCompiler } from "../../src/platform/http/validation.ts";
import type { BackgroundWork } from "./background.ts";
import type { FaultInjector } from "./faults.ts";

/**
 * The HTTP scaffolding of the simulators built on `faults.ts`: a Fastify server whose API routes
 * go through the fault injector (refused at once while down, answered after the drawn latency,
 * sometimes failed), next to `GET /health` and the admin routes (`GET/PATCH /admin/controls` and
 * whatever the simulator adds), which never fail so that tests can always steer the simulator.
 */

export interface FaultServerOptions {
  /** Names the problem types: `https://omnicore.dev/problems/<name>/<slug>`. */
  name: string;
  port: number;
  host: string;
  /** When set, every API and admin call needs it in `x-api-key`. */
  apiKey?: string;
  bodyMaxBytes: number;
  faults: FaultInjector;
  /** Cut short on close, so that a slow call in flight does not hold the server open. */
  work: BackgroundWork;
  onError: (error: unknown) => void;
  /** The simulator's own routes, behind the faults. */
  api: (api: FastifyInstance) => void;
  /** The simulator's admin routes besides `/admin/controls`, never faulty. */
  admin?: (admin: FastifyInstance) => void;
  /** Answers the controls after applying a patch (already validated by `controlsPatchSchema`). */
  controls: (patch?: Record<string, unknown>) => unknown;
  /** The properties a `PATCH /admin/controls` body may have. */
  controlsPatchProperties: TProperties;
}

export interface FaultServer {
  url: string;
  close(): Promise<void>;
}

export function problem(
  reply: FastifyReply,
  name: string,
  status: number,
  slug: string,
  detail: string,
): FastifyReply {
  return reply
    .code(status)
    .type("application/problem+json")
    .send({ type: `https://omnicore.dev/problems/${name}/${slug}`, title: slug, status, detail });
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** The key is compared as a hash, in constant time, so neither its length nor prefix leaks. */
function authenticated(request: FastifyRequest, apiKey: string | undefined): boolean {
  if (apiKey === undefined) return true;
  const given = request.headers["x-api-key"];
  return typeof given === "string" && timingSafeEqual(sha256(given), sha256(apiKey));
}

function registerFaultyApi(app: FastifyInstance, options: FaultServerOptions): void {
  const { faults, work, name } = options;
  const refuseWhileDown = (reply: FastifyReply) => {
    const availability = faults.availability();
    if (availability.up) return undefined;
    if (availability.retryAfterMs !== null) {
      reply.header("retry-after", String(Math.max(1, Math.ceil(availability.retryAfterMs / 1000))));
    }
    return problem(reply, name, 503, "service-unavailable", `Simulated outage (${availability.cause}).`);
  };
  app.register(async (api) => {
    api.addHook("onRequest", async (request, reply) => {
      if (!authenticated(request, options.apiKey)) {
        return problem(reply, name, 401, "unauthorized", "A valid x-api-key is required.");
      }
      return refuseWhileDown(reply);
    });
    // After validation, so that the latency is spent on calls the back end would process.
    api.addHook("preHandler", async (_request, reply) => {
      await work.sleep(faults.nextLatencyMs());
      if (work.closed) return problem(reply, name, 503, "service-unavailable", "The simulator is closing.");
      // An outage that began while the call was in progress fails it too.
      const refused = refuseWhileDown(reply);
      if (refused) return refused;
      if (faults.failsNow()) return problem(reply, name, 500, "simulated-error", "Simulated failure.");
    });
    options.api(api);
  });
}

function registerAdmin(app: FastifyInstance, options: FaultServerOptions): void {
  const patchSchema = Type.Object(options.controlsPatchProperties, {
    additionalProperties: false,
  });
  app.register(async (admin) => {
    admin.addHook("onRequest", async (request, reply) => {
      if (!authenticated(request, options.apiKey)) {
        return problem(reply, options.name, 401, "unauthorized", "A valid x-api-key is required.");
      }
    });
    admin.get("/admin/controls", async () => options.controls());
    admin.patch("/admin/controls", { schema: { body: patchSchema } }, async (request, reply) => {
      try {
        return options.controls(request.body as Record<string, unknown>);
      } catch (error) {
        return problem(reply, options.name, 400, "validation", (error as Error).message);
      }
    });
    options.admin?.(admin);
  });
}

function buildApp(options: FaultServerOptions): FastifyInstance {
  const { name } = options;
  const app = Fastify({ logger: false, bodyLimit: options.bodyMaxBytes });
  app.setValidatorCompiler(validatorCompiler());
  app.setErrorHandler(
    (error: { validation?: unknown; statusCode?: number; message: string }, _request, reply) => {
      if (error.validation) return problem(reply, name, 400, "validation", error.message);
      if (error.statusCode === 413)
        return problem(reply, name, 413, "payload-too-large", "The body is too large.");
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
        return problem(reply, name, error.statusCode, "bad-request", error.message);
      }
      options.onError(error);
      return problem(reply, name, 500, "internal", "The simulator failed.");
    },
  );
  app.setNotFoundHandler((request, reply) =>
    problem(reply, name, 404, "not-found", `No route ${request.method} ${request.url.split("?")[0]}.`),
  );
  app.get("/health", async () => ({ status: "ok" }));
  registerFaultyApi(app, options);
  registerAdmin(app, options);
  return app;
}

export async function startFaultServer(options: FaultServerOptions): Promise<FaultServer> {
  const app = buildApp(options);
  await app.listen({ port: options.port, host: options.host });
  const { port } = app.server.address() as AddressInfo;
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    close: async () => {
      await options.work.close();
      app.server.closeAllConnections();
      await app.close();
    },
  };
}
