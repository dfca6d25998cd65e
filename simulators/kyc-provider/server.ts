import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { Type } from "typebox";
import {
  KYC_WEBHOOK_EVENT_TYPE,
  type KycApplicant,
  type KycStatus,
  type KycVerificationRequest,
  KycVerificationRequestSchema,
  type KycVerificationResource,
  type KycWebhookBody,
} from "../../src/modules/onboarding/kyc/kyc.schemas.ts";
import { type Clock, systemClock } from "../../src/platform/clock.ts";
import { validatorCompiler } from "../../src/platform/http/validation.ts";
import { KYC_SIGNATURE_HEADER } from "../../src/platform/webhook-signature.ts";
import { BackgroundWork } from "../shared/background.ts";
import { deliverWithRetries, postSignedCallback } from "../shared/callbacks.ts";
import {
  checkedLatency,
  drawLatencyMs,
  envLatency,
  envNumber,
  type LatencyMs,
  pushBounded,
  rate,
  remember,
  whole,
} from "../shared/settings.ts";
import { DEFAULT_KYC_RULES, decideKyc, isCalendarDate, type KycDecisionRules } from "./rules.ts";

/**
 * An identity-verification (KYC) provider for development and tests. It takes an applicant,
 * answers 202 at once, decides by the rules in `rules.ts` after a configurable latency, and POSTs
 * the signed decision to the submission's callback URL (retried with backoff until a 2xx). The
 * decision can also be read with GET, the bank's polling fallback. Test controls, at start or
 * through `PATCH /admin/controls`, make it misbehave as real providers do: API calls failing with
 * 503, callbacks dropped, callbacks delivered twice, callbacks signed with the wrong secret.
 * Every call needs the API key in `x-api-key`. Randomness, time and ids are injectable.
 */

export type { LatencyMs };

export interface KycSimulatorControls {
  /** Time from a submission to its decision and callback. */
  latencyMs: LatencyMs;
  /** Share of API calls (POST and GET /v1/…) answered 503, 0..1. */
  failureRate: number;
  /** The next this many API calls are answered 503 (deterministic, for tests). */
  failNextRequests: number;
  /** Share of decisions whose callback is never sent, 0..1: only polling finds them. */
  dropCallbackRate: number;
  /** The callbacks of the next this many decisions are never sent. */
  dropNextCallbacks: number;
  /** Every callback is delivered twice, the same event, as providers do on a lost 2xx. */
  duplicateCallbacks: boolean;
  /** Callbacks are signed with a secret that is not the shared one. */
  wrongSignatureSecret: boolean;
}

export interface KycProviderSimulatorOptions {
  apiKey: string;
  webhookSecret: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  rules?: Partial<KycDecisionRules>;
  /** Shorthand for `controls.latencyMs`. */
  latencyMs?: LatencyMs;
  controls?: Partial<KycSimulatorControls>;
  callbackAttemptsMax?: number;
  /** Backoff before the second attempt; doubles per attempt up to `callbackBackoffMaxMs`. */
  callbackBackoffMs?: number;
  callbackBackoffMaxMs?: number;
  callbackTimeoutMs?: number;
  /** Verifications, idempotency keys and delivery records kept at most (oldest dropped). */
  rememberedMax?: number;
  /** Undecided verifications and running callbacks at most; beyond it submissions get 503. */
  pendingMax?: number;
  random?: () => number;
  clock?: Clock;
  newId?: () => string;
  fetch?: typeof globalThis.fetch;
  onError?: (error: unknown) => void;
}

export interface SimulatedVerification extends KycVerificationResource {
  receivedAt: Date;
}

export interface KycCallbackDelivery {
  verificationId: string;
  eventId: string;
  /** Which copy this was: 1, or 2 with `duplicateCallbacks`; 0 for a dropped callback. */
  copy: number;
  attempts: number;
  delivered: boolean;
  dropped: boolean;
  wrongSignatureSecret: boolean;
}

export interface KycProviderSimulator {
  url: string;
  close(): Promise<void>;
  /** Changes some controls (when given) and answers all of them. */
  controls(patch?: Partial<KycSimulatorControls>): KycSimulatorControls;
  verifications(): SimulatedVerification[];
  deliveries(): KycCallbackDelivery[];
  /** Resolves when no decision or callback is scheduled or running. */
  idle(): Promise<void>;
}

interface Settings {
  apiKey: string;
  webhookSecret: string;
  port: number;
  host: string;
  rules: KycDecisionRules;
  controls: KycSimulatorControls;
  callbackAttemptsMax: number;
  callbackBackoffMs: number;
  callbackBackoffMaxMs: number;
  callbackTimeoutMs: number;
  rememberedMax: number;
  pendingMax: number;
  random: () => number;
  clock: Clock;
  newId: () => string;
  fetch: typeof globalThis.fetch;
  onError: (error: unknown) => void;
}

const BODY_MAX_BYTES = 65_536;
const IDEMPOTENCY_KEY_MAX_LENGTH = 255;
const WRONG_SECRET = "not-the-shared-kyc-webhook-secret";

function checkedControls(controls: KycSimulatorControls): KycSimulatorControls {
  return {
    latencyMs: checkedLatency(controls.latencyMs),
    failureRate: rate("failureRate", controls.failureRate),
    failNextRequests: whole("failNextRequests", controls.failNextRequests, 0, 1_000_000),
    dropCallbackRate: rate("dropCallbackRate", controls.dropCallbackRate),
    dropNextCallbacks: whole("dropNextCallbacks", controls.dropNextCallbacks, 0, 1_000_000),
    duplicateCallbacks: controls.duplicateCallbacks === true,
    wrongSignatureSecret: controls.wrongSignatureSecret === true,
  };
}

const DEFAULT_CONTROLS: KycSimulatorControls = {
  latencyMs: 50,
  failureRate: 0,
  failNextRequests: 0,
  dropCallbackRate: 0,
  dropNextCallbacks: 0,
  duplicateCallbacks: false,
  wrongSignatureSecret: false,
};

function settings(options: KycProviderSimulatorOptions): Settings {
  if (options.apiKey.length === 0) throw new Error("apiKey must not be empty");
  if (options.webhookSecret.length === 0) throw new Error("webhookSecret must not be empty");
  const rules = { ...DEFAULT_KYC_RULES, ...options.rules };
  whole("rules.minimumAgeYears", rules.minimumAgeYears, 0, 150);
  const latency = options.latencyMs ?? options.controls?.latencyMs ?? DEFAULT_CONTROLS.latencyMs;
  return {
    apiKey: options.apiKey,
    webhookSecret: options.webhookSecret,
    port: whole("port", options.port ?? 0, 0, 65_535),
    host: options.host ?? "127.0.0.1",
    rules,
    controls: checkedControls({ ...DEFAULT_CONTROLS, ...options.controls, latencyMs: latency }),
    callbackAttemptsMax: whole("callbackAttemptsMax", options.callbackAttemptsMax ?? 5, 1, 20),
    callbackBackoffMs: whole("callbackBackoffMs", options.callbackBackoffMs ?? 100, 0, 60_000),
    callbackBackoffMaxMs: whole("callbackBackoffMaxMs", options.callbackBackoffMaxMs ?? 10_000, 0, 600_000),
    callbackTimeoutMs: whole("callbackTimeoutMs", options.callbackTimeoutMs ?? 5_000, 1, 120_000),
    rememberedMax: whole("rememberedMax", options.rememberedMax ?? 10_000, 1, 1_000_000),
    pendingMax: whole("pendingMax", options.pendingMax ?? 10_000, 1, 1_000_000),
    random: options.random ?? Math.random,
    clock: options.clock ?? systemClock,
    // 32 hex digits: unique across restarts, so a receiver's dedup never sees a reused id.
    newId: options.newId ?? (() => randomUUID().replaceAll("-", "")),
    fetch: options.fetch ?? globalThis.fetch,
    onError: options.onError ?? ((error) => console.error("kyc-provider simulator:", error)),
  };
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function problem(reply: FastifyReply, status: number, slug: string, detail: string): FastifyReply {
  return reply
    .code(status)
    .type("application/problem+json")
    .send({ type: `https://omnicore.dev/problems/kyc-simulator/${slug}`, title: slug, status, detail });
}

function unauthorized(reply: FastifyReply): FastifyReply {
  return problem(reply, 401, "unauthorized", "A valid x-api-key is required.");
}

interface StoredVerification {
  resource: KycVerificationResource;
  receivedAt: Date;
}

const ControlsPatchSchema = Type.Object(
  {
    latencyMs: Type.Optional(
      Type.Union([
        Type.Integer({ minimum: 0 }),
        Type.Object({ minMs: Type.Integer({ minimum: 0 }), maxMs: Type.Integer({ minimum: 0 }) }),
      ]),
    ),
    failureRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    failNextRequests: Type.Optional(Type.Integer({ minimum: 0 })),
    dropCallbackRate: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    dropNextCallbacks: Type.Optional(Type.Integer({ minimum: 0 })),
    duplicateCallbacks: Type.Optional(Type.Boolean()),
    wrongSignatureSecret: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

class KycProvider {
  readonly #settings: Settings;
  #controls: KycSimulatorControls;
  readonly #verifications = new Map<string, StoredVerification>();
  readonly #answers = new Map<string, { bodyHash: string; verificationId: string }>();
  readonly #deliveries: KycCallbackDelivery[] = [];
  readonly #work: BackgroundWork;

  constructor(options: Settings) {
    this.#settings = options;
    this.#work = new BackgroundWork(options.onError);
    this.#controls = options.controls;
  }

  controls(patch: Partial<KycSimulatorControls> = {}): KycSimulatorControls {
    this.#controls = checkedControls({ ...this.#controls, ...patch });
    return { ...this.#controls };
  }

  verifications(): SimulatedVerification[] {
    return [...this.#verifications.values()].map(({ resource, receivedAt }) => ({ ...resource, receivedAt }));
  }

  deliveries(): KycCallbackDelivery[] {
    return [...this.#deliveries];
  }

  idle(): Promise<void> {
    return this.#work.idle();
  }

  close(): Promise<void> {
    return this.#work.close();
  }

  // ————— HTTP —————

  register(app: FastifyInstance): void {
    app.get("/health", async () => ({ status: "ok" }));
    app.register(async (api) => {
      api.addHook("onRequest", async (request, reply) => {
        if (!this.#authenticated(request)) return unauthorized(reply);
        if (this.#failsNow()) return problem(reply, 503, "service-unavailable", "Simulated outage.");
      });
      api.post(
        "/v1/verifications",
        { schema: { body: KycVerificationRequestSchema }, bodyLimit: BODY_MAX_BYTES },
        async (request, reply) => this.#submit(request, reply),
      );
      api.get(
        "/v1/verifications/:verificationId",
        { schema: { params: Type.Object({ verificationId: Type.String({ maxLength: 100 }) }) } },
        async (request, reply) => {
          const { verificationId } = request.params as { verificationId: string };
          const stored = this.#verifications.get(verificationId);
          if (!stored) return problem(reply, 404, "not-found", "No verification has this id.");
          return reply.send(stored.resource);
        },
      );
    });
    app.register(async (admin) => {
      admin.addHook("onRequest", async (request, reply) => {
        if (!this.#authenticated(request)) return unauthorized(reply);
      });
      admin.get("/admin/controls", async () => this.controls());
      admin.patch("/admin/controls", { schema: { body: ControlsPatchSchema } }, async (request, reply) => {
        try {
          return this.controls(request.body as Partial<KycSimulatorControls>);
        } catch (error) {
          return problem(reply, 400, "validation", (error as Error).message);
        }
      });
    });
  }

  /** The key is compared as a hash, in constant time, so neither its length nor prefix leaks. */
  #authenticated(request: FastifyRequest): boolean {
    const given = request.headers["x-api-key"];
    return typeof given === "string" && timingSafeEqual(sha256(given), sha256(this.#settings.apiKey));
  }

  /** Whether this API call is one of the simulated outages (`failNextRequests`, `failureRate`). */
  #failsNow(): boolean {
    const controls = this.#controls;
    if (controls.failNextRequests > 0) {
      this.#controls = { ...controls, failNextRequests: controls.failNextRequests - 1 };
      return true;
    }
    return controls.failureRate > 0 && this.#settings.random() < controls.failureRate;
  }

  async #submit(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const key = request.headers["idempotency-key"];
    if (typeof key !== "string" || key.length < 1 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
      return problem(reply, 400, "validation", "An Idempotency-Key of 1 to 255 characters is required.");
    }
    const body = request.body as KycVerificationRequest;
    const { dateOfBirth, document } = body.applicant;
    if (!isCalendarDate(dateOfBirth) || !isCalendarDate(document.expiresOn)) {
      return problem(reply, 400, "validation", "dateOfBirth and document.expiresOn must be calendar dates.");
    }
    const bodyHash = sha256(JSON.stringify(body)).toString("hex");
    const known = this.#answers.get(key);
    if (known) {
      if (known.bodyHash !== bodyHash) {
        return problem(
          reply,
          422,
          "idempotency-key-reused",
          "This Idempotency-Key came with another request.",
        );
      }
      return reply.code(202).send({ verificationId: known.verificationId, status: "pending" });
    }
    if (this.#work.size >= this.#settings.pendingMax) {
      return problem(reply, 503, "service-unavailable", "Too many verifications are in progress.");
    }
    const verificationId = `kyv_${this.#settings.newId()}`;
    const resource: KycVerificationResource = {
      verificationId,
      reference: body.reference,
      status: "pending",
      reasons: [],
      documentVerified: false,
      decidedAt: null,
    };
    const { rememberedMax } = this.#settings;
    remember(
      this.#verifications,
      verificationId,
      { resource, receivedAt: this.#settings.clock.now() },
      rememberedMax,
    );
    remember(this.#answers, key, { bodyHash, verificationId }, rememberedMax);
    this.#work.track(this.#decideLater(resource, body.applicant, body.callbackUrl));
    return reply.code(202).send({ verificationId, status: "pending" });
  }

  // ————— Decisions and callbacks —————

  async #decideLater(resource: KycVerificationResource, applicant: KycApplicant, callbackUrl: string) {
    await this.#work.sleep(drawLatencyMs(this.#controls.latencyMs, this.#settings.random));
    if (this.#work.closed) return;
    const now = this.#settings.clock.now();
    const decision = decideKyc(applicant, this.#settings.rules, now.toISOString().slice(0, 10));
    resource.status = decision.outcome satisfies KycStatus;
    resource.reasons = decision.reasons;
    resource.documentVerified = decision.documentVerified;
    resource.decidedAt = now.toISOString();
    const event: KycWebhookBody = {
      eventId: `kye_${this.#settings.newId()}`,
      type: KYC_WEBHOOK_EVENT_TYPE,
      verification: { ...resource, reasons: [...resource.reasons] },
    };
    await this.#deliver(callbackUrl, event);
  }

  #dropsNextCallback(): boolean {
    const controls = this.#controls;
    if (controls.dropNextCallbacks > 0) {
      this.#controls = { ...controls, dropNextCallbacks: controls.dropNextCallbacks - 1 };
      return true;
    }
    return controls.dropCallbackRate > 0 && this.#settings.random() < controls.dropCallbackRate;
  }

  async #deliver(callbackUrl: string, event: KycWebhookBody): Promise<void> {
    const { verificationId } = event.verification;
    const wrongSignatureSecret = this.#controls.wrongSignatureSecret;
    const record = { verificationId, eventId: event.eventId, wrongSignatureSecret };
    const max = this.#settings.rememberedMax;
    if (this.#dropsNextCallback()) {
      pushBounded(
        this.#deliveries,
        { ...record, copy: 0, attempts: 0, delivered: false, dropped: true },
        max,
      );
      return;
    }
    // One body for every copy and attempt: a duplicate is the same event, byte for byte.
    const body = JSON.stringify(event);
    const secret = wrongSignatureSecret ? WRONG_SECRET : this.#settings.webhookSecret;
    const copies = this.#controls.duplicateCallbacks ? 2 : 1;
    for (let copy = 1; copy <= copies; copy++) {
      const outcome = await this.#deliverCopy(callbackUrl, body, secret);
      pushBounded(this.#deliveries, { ...record, copy, ...outcome, dropped: false }, max);
    }
  }

  /** Attempts until one is answered 2xx, at most `callbackAttemptsMax`, with exponential backoff. */
  #deliverCopy(url: string, body: string, secret: string) {
    const callback = {
      url,
      body,
      secret,
      contentType: "application/json",
      signatureHeader: KYC_SIGNATURE_HEADER,
    };
    return deliverWithRetries(() => postSignedCallback(this.#settings, callback), this.#settings, this.#work);
  }
}

function buildServer(provider: KycProvider, onError: (error: unknown) => void): FastifyInstance {
  // No request logging: every submission is full of personal data.
  const app = Fastify({ logger: false, bodyLimit: BODY_MAX_BYTES });
  app.setValidatorCompiler(validatorCompiler());
  app.setErrorHandler(
    (error: { validation?: unknown; statusCode?: number; message: string }, _request, reply) => {
      if (error.validation) return problem(reply, 400, "validation", error.message);
      if (error.statusCode === 413) return problem(reply, 413, "payload-too-large", "The body is too large.");
      if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
        return problem(reply, error.statusCode, "bad-request", error.message);
      }
      onError(error);
      return problem(reply, 500, "internal", "The simulator failed.");
    },
  );
  app.setNotFoundHandler((request, reply) =>
    problem(reply, 404, "not-found", `No route ${request.method} ${request.url.split("?")[0]}.`),
  );
  provider.register(app);
  return app;
}

export async function startKycProviderSimulator(
  options: KycProviderSimulatorOptions,
): Promise<KycProviderSimulator> {
  const resolved = settings(options);
  const provider = new KycProvider(resolved);
  const app = buildServer(provider, resolved.onError);
  await app.listen({ port: resolved.port, host: resolved.host });
  const { port } = app.server.address() as AddressInfo;
  const host = resolved.host.includes(":") ? `[${resolved.host}]` : resolved.host;
  return {
    url: `http://${host}:${port}`,
    controls: (patch) => provider.controls(patch),
    verifications: () => provider.verifications(),
    deliveries: () => provider.deliveries(),
    idle: () => provider.idle(),
    close: async () => {
      await provider.close();
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

// ————— Configuration from the environment —————

function envFlag(env: NodeJS.ProcessEnv, name: string): boolean {
  return /^(1|true|yes)$/i.test(env[name] ?? "");
}

export const DEVELOPMENT_KYC_API_KEY = "omnicore-development-kyc-api-key";
export const DEVELOPMENT_KYC_WEBHOOK_SECRET = "omnicore-development-kyc-webhook-secret";

export function kycProviderOptionsFromEnv(env: NodeJS.ProcessEnv): KycProviderSimulatorOptions {
  const watchList = env.KYC_WATCH_LIST?.split(";")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  return {
    port: envNumber(env, "KYC_PORT", 4200),
    host: env.KYC_HOST?.trim() || "127.0.0.1",
    apiKey: env.KYC_API_KEY || DEVELOPMENT_KYC_API_KEY,
    webhookSecret: env.KYC_WEBHOOK_SECRET || DEVELOPMENT_KYC_WEBHOOK_SECRET,
    rules: {
      minimumAgeYears: envNumber(env, "KYC_MINIMUM_AGE_YEARS", DEFAULT_KYC_RULES.minimumAgeYears),
      ...(watchList ? { watchList } : {}),
    },
    latencyMs: envLatency(env, "KYC_LATENCY_MS", 2_000),
    controls: {
      failureRate: envNumber(env, "KYC_FAILURE_RATE", 0),
      dropCallbackRate: envNumber(env, "KYC_DROP_CALLBACK_RATE", 0),
      duplicateCallbacks: envFlag(env, "KYC_DUPLICATE_CALLBACKS"),
      wrongSignatureSecret: envFlag(env, "KYC_WRONG_SIGNATURE"),
    },
  };
}

/** Starts the provider from the environment and prints where it listens. */
export async function startKycProviderFromEnv(env: NodeJS.ProcessEnv): Promise<KycProviderSimulator> {
  const options = kycProviderOptionsFromEnv(env);
  if (
    options.apiKey === DEVELOPMENT_KYC_API_KEY ||
    options.webhookSecret === DEVELOPMENT_KYC_WEBHOOK_SECRET
  ) {
    console.warn("kyc provider: KYC_API_KEY or KYC_WEBHOOK_SECRET is not set; using development values");
  }
  const simulator = await startKycProviderSimulator(options);
  console.info(`kyc provider listening on ${simulator.url}`);
  return simulator;
}

if (import.meta.main) {
  const simulator = await startKycProviderFromEnv(process.env);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
