import { Type } from "typebox";
import type { Metrics } from "../metrics.ts";
import { problemBody, sendProblem } from "./problem.ts";
import type { HttpServer } from "./server.ts";

/**
 * Resolves when the dependency works, throws when this node cannot do its job without it, and
 * answers `degraded` when it is impaired but the node still serves (an optional provider whose
 * circuit is open): reported in the body, without taking the node out of the load balancer.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: the existing checks resolve to void; only a degraded one answers a value.
export type ReadinessCheck = () => Promise<void | ReadinessDegraded>;

export interface ReadinessDegraded {
  status: "degraded";
  detail: string;
}

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
            const outcome = await check();
            if (outcome?.status === "degraded") return [name, outcome] as const;
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
      const down = results.filter(([, result]) => result.status === "down").map(([name]) => name);
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
