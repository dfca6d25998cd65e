import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { type Clock, systemClock } from "../../src/platform/clock.ts";
import { BackgroundWork } from "../shared/background.ts";
import { startFaultServer } from "../shared/fault-server.ts";
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
 * An e-mail and SMS provider over HTTP (in the manner of the transactional-mail and SMS APIs):
 * `POST /emails` {to, subject, text} and `POST /sms` {to, text}, each sent once per
 * `Idempotency-Key`, failing as `faults.ts` configures. SMTP is out of scope. It records what it sent.
 */

export interface SentMessage {
  kind: "email" | "sms";
  messageId: string;
  idempotencyKey: string | null;
  to: string;
  subject: string | null;
  text: string;
  sentAt: string;
}

export interface MessagingProviderSimulatorOptions extends Omit<FaultControlsPatch, "downForMs"> {
  port?: number;
  host?: string;
  apiKey?: string;
  rememberedMax?: number;
  random?: () => number;
  clock?: Clock;
  onError?: (error: unknown) => void;
}

export interface MessagingProviderSimulator {
  url: string;
  close(): Promise<void>;
  controls(patch?: FaultControlsPatch): FaultControls;
  /** The messages sent, oldest first. */
  messages(): SentMessage[];
}

export const MESSAGING_PROVIDER_DEFAULT_LATENCY: LatencyDistribution = {
  kind: "uniform",
  minMs: 50,
  maxMs: 300,
};
const NAME = "messaging-provider-simulator";

const EmailSchema = Type.Object(
  {
    to: Type.String({ minLength: 3, maxLength: 320 }),
    subject: Type.String({ maxLength: 500 }),
    text: Type.String({ maxLength: 20_000 }),
  },
  { additionalProperties: false },
);
const SmsSchema = Type.Object(
  { to: Type.String({ minLength: 3, maxLength: 32 }), text: Type.String({ maxLength: 1_600 }) },
  { additionalProperties: false },
);

class MessagingProvider {
  readonly faults: FaultInjector;
  readonly #clock: Clock;
  readonly #messages: SentMessage[] = [];
  readonly #byKey = new Map<string, SentMessage>();
  readonly #rememberedMax: number;

  constructor(options: MessagingProviderSimulatorOptions) {
    this.#clock = options.clock ?? systemClock;
    this.#rememberedMax = options.rememberedMax ?? 100_000;
    this.faults = new FaultInjector({
      clock: this.#clock,
      random: options.random ?? Math.random,
      controls: faultControlsFrom(options, MESSAGING_PROVIDER_DEFAULT_LATENCY),
    });
  }

  messages(): SentMessage[] {
    return [...this.#messages];
  }

  #send(kind: SentMessage["kind"], key: string | null, to: string, subject: string | null, text: string) {
    const earlier = key ? this.#byKey.get(`${kind}:${key}`) : undefined;
    if (earlier) return { messageId: earlier.messageId };
    const message: SentMessage = {
      kind,
      messageId: `msg_${randomUUID().replaceAll("-", "")}`,
      idempotencyKey: key,
      to,
      subject,
      text,
      sentAt: this.#clock.now().toISOString(),
    };
    pushBounded(this.#messages, message, this.#rememberedMax);
    if (key) remember(this.#byKey, `${kind}:${key}`, message, this.#rememberedMax);
    return { messageId: message.messageId };
  }

  registerApi(api: FastifyInstance): void {
    const keyOf = (header: unknown) => (typeof header === "string" && header.length > 0 ? header : null);
    api.post("/emails", { schema: { body: EmailSchema } }, async (request) => {
      const body = request.body as { to: string; subject: string; text: string };
      return this.#send("email", keyOf(request.headers["idempotency-key"]), body.to, body.subject, body.text);
    });
    api.post("/sms", { schema: { body: SmsSchema } }, async (request) => {
      const body = request.body as { to: string; text: string };
      return this.#send("sms", keyOf(request.headers["idempotency-key"]), body.to, null, body.text);
    });
  }

  registerAdmin(admin: FastifyInstance): void {
    admin.get("/admin/messages", async () => ({ items: this.messages() }));
  }
}

export async function startMessagingProviderSimulator(
  options: MessagingProviderSimulatorOptions = {},
): Promise<MessagingProviderSimulator> {
  const provider = new MessagingProvider(options);
  const onError = options.onError ?? ((error) => console.error("messaging-provider simulator:", error));
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
    messages: () => provider.messages(),
  };
}

export function messagingProviderOptionsFromEnv(env: NodeJS.ProcessEnv): MessagingProviderSimulatorOptions {
  const { downUntil: _, ...faults } = faultControlsFromEnv(
    env,
    "MESSAGING_",
    MESSAGING_PROVIDER_DEFAULT_LATENCY,
  );
  return {
    port: Number(env.MESSAGING_PORT?.trim() || 4700),
    host: env.MESSAGING_HOST?.trim() || "127.0.0.1",
    apiKey: env.MESSAGING_API_KEY || undefined,
    ...faults,
  };
}

/** Starts the e-mail and SMS provider from the environment and prints where it listens. */
export async function startMessagingProviderFromEnv(
  env: NodeJS.ProcessEnv,
): Promise<MessagingProviderSimulator> {
  const simulator = await startMessagingProviderSimulator(messagingProviderOptionsFromEnv(env));
  console.info(`messaging provider (e-mail, SMS) listening on ${simulator.url}`);
  return simulator;
}

if (import.meta.main) {
  const simulator = await startMessagingProviderFromEnv(process.env);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
