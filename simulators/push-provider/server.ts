import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { type Clock, systemClock } from "../../src/platform/clock.ts";
import { BackgroundWork } from "../shared/background.ts";
import { problem, startFaultServer } from "../shared/fault-server.ts";
import {
  type FaultControls,
  type FaultControlsPatch,
  FaultControlsPatchProperties,
  FaultInjector,
  faultControlsFrom,
  faultControlsFromEnv,
  type LatencyDistribution,
} from "../shared/faults.ts";
import { pushBounded, remember } from "../shared/settings.ts";

/**
 * A push provider (in the manner of APNs or FCM): `POST /push` with a device token, a title and
 * a body delivers a push message once per `Idempotency-Key`, answers 410 for a token the
 * provider no longer knows (the app was removed: the bank deactivates it), and fails as
 * `faults.ts` configures (latency, error rate, outages). It records what it delivered.
 */

export interface PushDelivery {
  messageId: string;
  idempotencyKey: string | null;
  token: string;
  title: string;
  body: string;
  deliveredAt: string;
}

export interface PushProviderSimulatorOptions extends Omit<FaultControlsPatch, "downForMs"> {
  port?: number;
  host?: string;
  apiKey?: string;
  rememberedMax?: number;
  random?: () => number;
  clock?: Clock;
  onError?: (error: unknown) => void;
}

export interface PushProviderSimulator {
  url: string;
  close(): Promise<void>;
  controls(patch?: FaultControlsPatch): FaultControls;
  /** From now on, pushes to this token answer 410 Gone (unregistered). */
  unregister(token: string): void;
  /** The pushes delivered, oldest first (a repeated Idempotency-Key is delivered once). */
  deliveries(): PushDelivery[];
}

export const PUSH_PROVIDER_DEFAULT_LATENCY: LatencyDistribution = { kind: "uniform", minMs: 20, maxMs: 120 };
const NAME = "push-provider-simulator";

const PushSchema = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 4096 }),
    title: Type.String({ maxLength: 500 }),
    body: Type.String({ maxLength: 4000 }),
  },
  { additionalProperties: false },
);

class PushProvider {
  readonly faults: FaultInjector;
  readonly #clock: Clock;
  readonly #deliveries: PushDelivery[] = [];
  readonly #byKey = new Map<string, PushDelivery>();
  readonly #unregistered = new Set<string>();
  readonly #rememberedMax: number;

  constructor(options: PushProviderSimulatorOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#rememberedMax = options.rememberedMax ?? 100_000;
    this.faults = new FaultInjector({
      clock: this.#clock,
      random: options.random ?? Math.random,
      controls: faultControlsFrom(options, PUSH_PROVIDER_DEFAULT_LATENCY),
    });
  }

  unregister(token: string): void {
    this.#unregistered.add(token);
  }

  deliveries(): PushDelivery[] {
    return [...this.#deliveries];
  }

  registerApi(api: FastifyInstance): void {
    api.post("/push", { schema: { body: PushSchema } }, async (request, reply) => {
      const push = request.body as { token: string; title: string; body: string };
      const header = request.headers["idempotency-key"];
      const key = typeof header === "string" && header.length > 0 ? header : null;
      const earlier = key ? this.#byKey.get(key) : undefined;
      if (earlier) return { messageId: earlier.messageId };
      if (this.#unregistered.has(push.token)) {
        return problem(reply, NAME, 410, "unregistered", "The device token is no longer registered.");
      }
      const delivery: PushDelivery = {
        messageId: `psh_${randomUUID().replaceAll("-", "")}`,
        idempotencyKey: key,
        ...push,
        deliveredAt: this.#clock.now().toISOString(),
      };
      pushBounded(this.#deliveries, delivery, this.#rememberedMax);
      if (key) remember(this.#byKey, key, delivery, this.#rememberedMax);
      return { messageId: delivery.messageId };
    });
  }

  registerAdmin(admin: FastifyInstance): void {
    admin.get("/admin/deliveries", async () => ({ items: this.deliveries() }));
    admin.post(
      "/admin/unregistered-tokens",
      {
        schema: {
          body: Type.Object({ token: Type.String({ minLength: 1 }) }, { additionalProperties: false }),
        },
      },
      async (request) => {
        this.unregister((request.body as { token: string }).token);
        return { unregistered: true };
      },
    );
  }
}

export async function startPushProviderSimulator(
  options: PushProviderSimulatorOptions = {},
): Promise<PushProviderSimulator> {
  const provider = new PushProvider(options);
  const onError = options.onError ?? ((error) => console.error("push-provider simulator:", error));
  const server = await startFaultServer({
    name: NAME,
    port: options.port ?? 0,
    host: options.host ?? "127.0.0.1",
    apiKey: options.apiKey,
    bodyMaxBytes: 65_536,
    faults: provider.faults,
    work: new BackgroundWork(onError),
    onError,
    api: (api) => provider.registerApi(api),
    admin: (admin) => provider.registerAdmin(admin),
    controls: (patch) => provider.faults.controls(patch as FaultControlsPatch),
    controlsPatchProperties: FaultControlsPatchProperties,
  });
  return {
    url: server.url,
    close: () => server.close(),
    controls: (patch) => provider.faults.controls(patch),
    unregister: (token) => provider.unregister(token),
    deliveries: () => provider.deliveries(),
  };
}

export function pushProviderOptionsFromEnv(env: NodeJS.ProcessEnv): PushProviderSimulatorOptions {
  const { downUntil: _, ...faults } = faultControlsFromEnv(env, "PUSH_", PUSH_PROVIDER_DEFAULT_LATENCY);
  return {
    port: Number(env.PUSH_PORT?.trim() || 4600),
    host: env.PUSH_HOST?.trim() || "127.0.0.1",
    apiKey: env.PUSH_API_KEY || undefined,
    ...faults,
  };
}

/** Starts the push provider from the environment and prints where it listens. */
export async function startPushProviderFromEnv(env: NodeJS.ProcessEnv): Promise<PushProviderSimulator> {
  const simulator = await startPushProviderSimulator(pushProviderOptionsFromEnv(env));
  console.info(`push provider listening on ${simulator.url}`);
  return simulator;
}

if (import.meta.main) {
  const simulator = await startPushProviderFromEnv(process.env);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
