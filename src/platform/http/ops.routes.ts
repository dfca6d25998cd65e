import { Type } from "typebox";
import type { Metrics } from "../metrics.ts";
import { problemBody, sendProblem } from "./problem.ts";
import type { HttpServer } from "./server.ts";

export type ReadinessCheck = () => Promise<void>;

/** /health (the process answers), /ready (it can do its job), /metrics (Prometheus). */
export function registerOpsRoutes(
  app: HttpServer,
  options: { metrics: Metrics; checks: Record<string, ReadinessCheck>; isShuttingDown: () => boolean },
): void {
  app.get(
    "/health",
    {
      schema: {
        tags: ["operations"],
        summary: "Liveness: the process is up",
        response: { 200: Type.Object({ status: Type.Literal("ok") }) },
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/ready",
    {
      schema: {
        tags: ["operations"],
        summary: "Readiness: database reachable, migrations applied, every configured dependency answering",
      },
    },
    async (request, reply) => {
      const results = await Promise.all(
        Object.entries(options.checks).map(async ([name, check]) => {
          try {
            await check();
            return [name, { status: "up" }] as const;
          } catch (error) {
            return [
              name,
              { status: "down", detail: error instanceof Error ? error.message : String(error) },
            ] as const;
          }
        }),
      );
      const checks = Object.fromEntries(results);
      const down = results.filter(([, result]) => result.status !== "up").map(([name]) => name);
      if (options.isShuttingDown()) down.push("shutting-down");
      if (down.length === 0) return { status: "ready", checks };
      return sendProblem(
        reply,
        problemBody(request, "service-unavailable", `Not ready: ${down.join(", ")}`, { checks }),
      );
    },
  );

  app.get("/metrics", { schema: { hide: true } }, async (_request, reply) => {
    reply.type(options.metrics.registry.contentType);
    return options.metrics.registry.metrics();
  });
}
