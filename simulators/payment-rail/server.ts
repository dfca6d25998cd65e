import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  buildPacs002,
  buildPacs004,
  buildPacs008,
  type InboundCreditTransfer,
  type Pacs008,
  type PaymentStatus,
  parsePacs008,
} from "../../src/modules/payments/rail/iso20022.ts";
import { type Clock, systemClock } from "../../src/platform/clock.ts";
import { AppError } from "../../src/platform/errors.ts";
import { parseAmount } from "../../src/platform/money.ts";
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

/**
 * A payment rail for development and tests: it takes pacs.008 credit transfers, answers each
 * with a signed pacs.002 (settled or rejected) after a while, returns some settled ones later with
 * a pacs.004, and sends inbound credits (pacs.008) of its own. Callbacks are delivered at least
 * once, retried with backoff and optionally duplicated, as a real rail does, so that the bank's
 * webhook handling is exercised for idempotency. Randomness, time and ids are injectable.
 */

export type { LatencyMs };

export interface PaymentRailSimulatorOptions {
  callbackUrl: string;
  webhookSecret: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Time from accepting a pacs.008 to sending its pacs.002. */
  latencyMs?: LatencyMs;
  /** Share of transactions rejected (RJCT), 0..1. */
  rejectionRate?: number;
  rejectionReasonCodes?: readonly string[];
  /** Share of settled transactions returned later with a pacs.004, 0..1. */
  returnRate?: number;
  returnDelayMs?: number;
  returnReasonCodes?: readonly string[];
  /** Delivers every callback twice, to show that the receiver is idempotent. */
  duplicateCallbacks?: boolean;
  callbackAttemptsMax?: number;
  /** Backoff before the second attempt; doubles per attempt up to `callbackBackoffMaxMs`. */
  callbackBackoffMs?: number;
  callbackBackoffMaxMs?: number;
  callbackTimeoutMs?: number;
  bodyMaxBytes?: number;
  /** Idempotency keys, received messages and delivery records kept at most (oldest dropped). */
  rememberedMax?: number;
  /** Scheduled and running callbacks at most; beyond it submissions get 503. */
  pendingMax?: number;
  /** The BIC of the banks that send inbound credits through this rail. */
  senderBic?: string;
  random?: () => number;
  clock?: Clock;
  newId?: () => string;
  fetch?: typeof globalThis.fetch;
  onError?: (error: unknown) => void;
}

export type CallbackKind = "pacs.002" | "pacs.004" | "pacs.008";

export interface ReceivedCreditTransfer {
  idempotencyKey: string;
  xml: string;
  message: Pacs008;
  receivedAt: Date;
}

export interface CallbackDelivery {
  kind: CallbackKind;
  messageId: string;
  /** Which copy this was: 1, or 2 with `duplicateCallbacks`. */
  copy: number;
  attempts: number;
  delivered: boolean;
}

export interface InboundCreditInput {
  creditorIban: string;
  creditorName: string;
  debtorIban: string;
  debtorName: string;
  amountMinor: bigint;
  currency: string;
  remittance?: string;
  creditorAgentBic?: string;
}

export interface InboundCredit {
  messageId: string;
  endToEndId: string;
  transactionId: string;
  xml: string;
}

export interface PaymentRailSimulator {
  url: string;
  close(): Promise<void>;
  /** The pacs.008 messages the rail accepted, oldest first. */
  sent(): ReceivedCreditTransfer[];
  deliveries(): CallbackDelivery[];
  /** Sends an inbound credit to the callback URL; resolves once delivered or given up. */
  injectInboundCredit(input: InboundCreditInput): Promise<InboundCredit & { delivered: boolean }>;
  /** Resolves when no callback is scheduled or running. */
  idle(): Promise<void>;
}

type Settings = Required<Omit<PaymentRailSimulatorOptions, "onError">> & {
  onError: (error: unknown) => void;
};

function settings(options: PaymentRailSimulatorOptions): Settings {
  if (!URL.canParse(options.callbackUrl)) throw new Error("callbackUrl must be an absolute URL");
  if (options.webhookSecret.length === 0) throw new Error("webhookSecret must not be empty");
  return {
    port: whole("port", options.port ?? 0, 0, 65_535),
    host: options.host ?? "127.0.0.1",
    latencyMs: checkedLatency(options.latencyMs ?? 50),
    rejectionRate: rate("rejectionRate", options.rejectionRate ?? 0),
    rejectionReasonCodes: options.rejectionReasonCodes ?? ["AC04", "AM04"],
    returnRate: rate("returnRate", options.returnRate ?? 0),
    returnDelayMs: whole("returnDelayMs", options.returnDelayMs ?? 1_000, 0, 86_400_000),
    returnReasonCodes: options.returnReasonCodes ?? ["AC04"],
    duplicateCallbacks: options.duplicateCallbacks ?? false,
    callbackAttemptsMax: whole("callbackAttemptsMax", options.callbackAttemptsMax ?? 5, 1, 20),
    callbackBackoffMs: whole("callbackBackoffMs", options.callbackBackoffMs ?? 100, 0, 60_000),
    callbackBackoffMaxMs: whole("callbackBackoffMaxMs", options.callbackBackoffMaxMs ?? 10_000, 0, 600_000),
    callbackTimeoutMs: whole("callbackTimeoutMs", options.callbackTimeoutMs ?? 5_000, 1, 120_000),
    bodyMaxBytes: whole("bodyMaxBytes", options.bodyMaxBytes ?? 1_048_576, 1, 16_777_216),
    rememberedMax: whole("rememberedMax", options.rememberedMax ?? 10_000, 1, 1_000_000),
    pendingMax: whole("pendingMax", options.pendingMax ?? 10_000, 1, 1_000_000),
    senderBic: options.senderBic ?? "SIMUDEFFXXX",
    random: options.random ?? Math.random,
    clock: options.clock ?? systemClock,
    // 32 hex digits: unique across restarts, so a receiver's replay cache never sees a reused id.
    newId: options.newId ?? (() => randomUUID().replaceAll("-", "")),
    fetch: options.fetch ?? globalThis.fetch,
    callbackUrl: options.callbackUrl,
    webhookSecret: options.webhookSecret,
    onError: options.onError ?? ((error) => console.error("payment-rail simulator:", error)),
  };
}

// ————— HTTP plumbing —————

const PROBLEMS = {
  validation: 400,
  "not-found": 404,
  "method-not-allowed": 405,
  "payload-too-large": 413,
  "unsupported-media-type": 415,
  "idempotency-key-reused": 422,
  "service-unavailable": 503,
  internal: 500,
} as const;

type ProblemSlug = keyof typeof PROBLEMS;

function sendJson(response: ServerResponse, status: number, body: unknown, type = "application/json"): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  response.end(text);
}

function sendProblem(response: ServerResponse, slug: ProblemSlug, detail: string): void {
  const status = PROBLEMS[slug];
  const body = { type: `https://omnicore.dev/problems/rail-simulator/${slug}`, title: slug, status, detail };
  // After a refused body the rest of it is not read, so the connection cannot be reused.
  if (slug === "payload-too-large") response.setHeader("connection", "close");
  sendJson(response, status, body, "application/problem+json");
}

class BodyTooLarge extends Error {}

function readBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  if (Number(request.headers["content-length"] ?? 0) > maxBytes) return Promise.reject(new BodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else {
        request.pause();
        reject(new BodyTooLarge());
      }
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

function sha256(body: Buffer): string {
  return createHash("sha256").update(body).digest("hex");
}

const MESSAGE_NAMES: Record<CallbackKind, string> = {
  "pacs.002": "pacs.002.001.11",
  "pacs.004": "pacs.004.001.10",
  "pacs.008": "pacs.008.001.09",
};

const IDEMPOTENCY_KEY_MAX_LENGTH = 255;

// ————— The rail —————

class PaymentRail {
  readonly #settings: Settings;
  readonly #answers = new Map<string, { bodyHash: string; answer: unknown }>();
  readonly #received: ReceivedCreditTransfer[] = [];
  readonly #deliveries: CallbackDelivery[] = [];
  readonly #work: BackgroundWork;

  constructor(options: Settings) {
    this.#settings = options;
    this.#work = new BackgroundWork(options.onError);
  }

  sent(): ReceivedCreditTransfer[] {
    return [...this.#received];
  }

  deliveries(): CallbackDelivery[] {
    return [...this.#deliveries];
  }

  idle(): Promise<void> {
    return this.#work.idle();
  }

  close(): Promise<void> {
    return this.#work.close();
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = new URL(request.url ?? "/", "http://rail.invalid").pathname;
    const routes: Record<string, () => Promise<void>> = {
      "GET /health": async () => sendJson(response, 200, { status: "ok" }),
      "POST /v1/pacs008": () => this.#receiveCreditTransfer(request, response),
      "POST /v1/inbound-credits": () => this.#receiveInboundCreditOrder(request, response),
    };
    const route = routes[`${request.method} ${path}`];
    if (route) return route();
    const known = Object.keys(routes).some((key) => key.endsWith(` ${path}`));
    sendProblem(response, known ? "method-not-allowed" : "not-found", `No route ${request.method} ${path}.`);
  }

  async #receiveCreditTransfer(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const key = request.headers["idempotency-key"];
    if (!/^(application|text)\/xml\b/i.test(request.headers["content-type"] ?? "")) {
      return sendProblem(response, "unsupported-media-type", "A pacs.008 is sent as application/xml.");
    }
    if (typeof key !== "string" || key.length < 1 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
      return sendProblem(response, "validation", "An Idempotency-Key of 1 to 255 characters is required.");
    }
    const body = await readBody(request, this.#settings.bodyMaxBytes);
    const bodyHash = sha256(body);
    const known = this.#answers.get(key);
    if (known) {
      if (known.bodyHash === bodyHash) return sendJson(response, 202, known.answer);
      return sendProblem(
        response,
        "idempotency-key-reused",
        "This Idempotency-Key came with another message.",
      );
    }
    if (this.#work.size >= this.#settings.pendingMax) {
      return sendProblem(response, "service-unavailable", "Too many payments are in flight.");
    }
    const xml = body.toString("utf8");
    const message = parsePacs008(xml);
    const answer = { messageId: message.messageId, status: "received" };
    remember(this.#answers, key, { bodyHash, answer }, this.#settings.rememberedMax);
    const receivedAt = this.#settings.clock.now();
    pushBounded(
      this.#received,
      { idempotencyKey: key, xml, message, receivedAt },
      this.#settings.rememberedMax,
    );
    sendJson(response, 202, answer);
    this.#work.track(this.#settle(message));
  }

  async #receiveInboundCreditOrder(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (this.#work.size >= this.#settings.pendingMax) {
      return sendProblem(response, "service-unavailable", "Too many callbacks are in flight.");
    }
    const body = await readBody(request, this.#settings.bodyMaxBytes);
    const input = inboundCreditFromJson(body);
    const credit = this.#prepareInboundCredit(input);
    this.#work.track(this.#deliver("pacs.008", credit.messageId, credit.xml));
    sendJson(response, 202, { messageId: credit.messageId, endToEndId: credit.endToEndId });
  }

  async injectInboundCredit(input: InboundCreditInput): Promise<InboundCredit & { delivered: boolean }> {
    const credit = this.#prepareInboundCredit(input);
    const delivered = await this.#work.track(this.#deliver("pacs.008", credit.messageId, credit.xml));
    return { ...credit, delivered };
  }

  #prepareInboundCredit(input: InboundCreditInput): InboundCredit {
    const { newId, clock, senderBic } = this.#settings;
    const now = clock.now();
    const ids = { messageId: newId(), endToEndId: newId(), transactionId: newId() };
    const xml = buildPacs008({
      ...ids,
      ...input,
      createdAt: now,
      settlementDate: now.toISOString().slice(0, 10),
      debtorAgentBic: senderBic,
    });
    return { ...ids, xml };
  }

  // ————— Settlement —————

  #pick(codes: readonly string[]): string {
    const index = Math.floor(this.#settings.random() * codes.length);
    return codes[Math.min(index, codes.length - 1)] ?? "NARR";
  }

  #decide(transaction: InboundCreditTransfer): PaymentStatus {
    const base = {
      originalEndToEndId: transaction.endToEndId,
      originalTransactionId: transaction.transactionId,
    };
    if (this.#settings.random() < this.#settings.rejectionRate) {
      return { ...base, status: "RJCT", reasonCode: this.#pick(this.#settings.rejectionReasonCodes) };
    }
    return { ...base, status: "ACSC" };
  }

  async #settle(message: Pacs008): Promise<void> {
    await this.#work.sleep(drawLatencyMs(this.#settings.latencyMs, this.#settings.random));
    if (this.#work.closed) return;
    const statuses = message.transactions.map((transaction) => this.#decide(transaction));
    const messageId = this.#settings.newId();
    const createdAt = this.#settings.clock.now();
    const xml = buildPacs002({ messageId, createdAt, originalMessageId: message.messageId, statuses });
    await this.#deliver("pacs.002", messageId, xml);
    message.transactions.forEach((transaction, index) => {
      if (statuses[index]?.status !== "ACSC") return;
      if (this.#settings.random() < this.#settings.returnRate) {
        this.#work.track(this.#returnLater(message.messageId, transaction));
      }
    });
  }

  async #returnLater(originalMessageId: string, transaction: InboundCreditTransfer): Promise<void> {
    await this.#work.sleep(this.#settings.returnDelayMs);
    if (this.#work.closed) return;
    const messageId = this.#settings.newId();
    const xml = buildPacs004({
      messageId,
      createdAt: this.#settings.clock.now(),
      returns: [
        {
          returnId: this.#settings.newId(),
          originalMessageId,
          originalEndToEndId: transaction.endToEndId,
          originalTransactionId: transaction.transactionId,
          returnedAmountMinor: transaction.amountMinor,
          currency: transaction.currency,
          reasonCode: this.#pick(this.#settings.returnReasonCodes),
        },
      ],
    });
    await this.#deliver("pacs.004", messageId, xml);
  }

  // ————— Callbacks —————

  async #deliver(kind: CallbackKind, messageId: string, xml: string): Promise<boolean> {
    const copies = this.#settings.duplicateCallbacks ? 2 : 1;
    let delivered = false;
    for (let copy = 1; copy <= copies; copy++) {
      const outcome = await this.#deliverCopy(kind, xml);
      pushBounded(this.#deliveries, { kind, messageId, copy, ...outcome }, this.#settings.rememberedMax);
      delivered ||= outcome.delivered;
    }
    return delivered;
  }

  /** Attempts until one is answered 2xx, at most `callbackAttemptsMax`, with exponential backoff. */
  #deliverCopy(kind: CallbackKind, xml: string): Promise<{ attempts: number; delivered: boolean }> {
    const callback = {
      url: this.#settings.callbackUrl,
      body: xml,
      secret: this.#settings.webhookSecret,
      contentType: "application/xml",
      signatureHeader: "x-rail-signature",
      headers: { "x-rail-message-type": MESSAGE_NAMES[kind] },
    };
    return deliverWithRetries(() => postSignedCallback(this.#settings, callback), this.#settings, this.#work);
  }
}

function inboundCreditFromJson(body: Buffer): InboundCreditInput {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new AppError("validation", "The body is not JSON.");
  }
  const text = (name: string) => {
    const field = value?.[name];
    if (typeof field !== "string") throw new AppError("validation", `${name} must be a string.`);
    return field;
  };
  const parsed = parseAmount(text("amount"), text("currency"));
  if (!parsed.ok) throw new AppError("validation", `amount is not valid (${parsed.reason}).`);
  return {
    creditorIban: text("creditorIban"),
    creditorName: text("creditorName"),
    debtorIban: text("debtorIban"),
    debtorName: text("debtorName"),
    amountMinor: parsed.money.amountMinor,
    currency: parsed.money.currency,
    remittance: typeof value.remittance === "string" ? value.remittance : undefined,
  };
}

function failureResponse(response: ServerResponse, error: unknown, onError: (error: unknown) => void): void {
  if (response.headersSent) {
    response.destroy();
  } else if (error instanceof BodyTooLarge) {
    sendProblem(response, "payload-too-large", "The body is too large.");
  } else if (error instanceof AppError) {
    sendProblem(
      response,
      error.slug === "payload-too-large" ? "payload-too-large" : "validation",
      error.message,
    );
  } else {
    onError(error);
    sendProblem(response, "internal", "The simulator failed.");
  }
}

export async function startPaymentRailSimulator(
  options: PaymentRailSimulatorOptions,
): Promise<PaymentRailSimulator> {
  const resolved = settings(options);
  const rail = new PaymentRail(resolved);
  const server: Server = createServer((request, response) => {
    rail
      .handle(request, response)
      .catch((error: unknown) => failureResponse(response, error, resolved.onError));
  });
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(resolved.port, resolved.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = resolved.host.includes(":") ? `[${resolved.host}]` : resolved.host;
  return {
    url: `http://${host}:${port}`,
    sent: () => rail.sent(),
    deliveries: () => rail.deliveries(),
    injectInboundCredit: (input) => rail.injectInboundCredit(input),
    idle: () => rail.idle(),
    close: async () => {
      await rail.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ————— Configuration from the environment —————

export const DEVELOPMENT_WEBHOOK_SECRET = "omnicore-development-rail-webhook-secret";

export function paymentRailOptionsFromEnv(env: NodeJS.ProcessEnv): PaymentRailSimulatorOptions {
  return {
    port: envNumber(env, "RAIL_PORT", 4100),
    host: env.RAIL_HOST?.trim() || "127.0.0.1",
    callbackUrl: env.RAIL_CALLBACK_URL?.trim() || "http://127.0.0.1:3000/v1/rail/callbacks",
    webhookSecret: env.RAIL_WEBHOOK_SECRET || DEVELOPMENT_WEBHOOK_SECRET,
    latencyMs: envLatency(env, "RAIL_LATENCY_MS", 200),
    rejectionRate: envNumber(env, "RAIL_REJECTION_RATE", 0),
    returnRate: envNumber(env, "RAIL_RETURN_RATE", 0),
    returnDelayMs: envNumber(env, "RAIL_RETURN_DELAY_MS", 5_000),
    duplicateCallbacks: /^(1|true|yes)$/i.test(env.RAIL_DUPLICATE_CALLBACKS ?? ""),
  };
}

/** Starts the rail from the environment and prints where it listens and where it calls back. */
export async function startPaymentRailFromEnv(env: NodeJS.ProcessEnv): Promise<PaymentRailSimulator> {
  const options = paymentRailOptionsFromEnv(env);
  if (options.webhookSecret === DEVELOPMENT_WEBHOOK_SECRET) {
    console.warn("payment rail: RAIL_WEBHOOK_SECRET is not set; using the development secret");
  }
  const simulator = await startPaymentRailSimulator(options);
  console.info(`payment rail listening on ${simulator.url}, calling back ${options.callbackUrl}`);
  return simulator;
}

if (import.meta.main) {
  const simulator = await startPaymentRailFromEnv(process.env);
  const stop = () => void simulator.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
