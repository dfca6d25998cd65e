import type {
  ConnectorFactory,
  ConnectorResult,
  HttpAnswer,
  HttpConnector,
} from "../../platform/connectors/index.ts";
import type { NotificationChannel } from "./preferences.ts";

/**
 * The providers that carry notifications out of the bank: a push provider (simulated by
 * simulators/push-provider) and an e-mail and an SMS provider over HTTP (simulated by
 * simulators/messaging-provider). Each call goes through a connector; the connector does not retry
 * (retry: 1 attempt) because the delivery outbox retries with its own backoff and counts attempts.
 * The delivery id is the Idempotency-Key, so a send that landed but timed out is not repeated.
 */

export type SendOutcome =
  | { kind: "delivered"; messageId: string | null }
  /** The push provider no longer knows the token: the app was removed or the token rotated. */
  | { kind: "unregistered" }
  | { kind: "retry"; code: string; status: number | null }
  | { kind: "failed"; code: string; status: number | null };

export interface OutgoingMessage {
  deliveryId: string;
  /** A push token, an e-mail address or a phone number; never logged. */
  address: string;
  title: string;
  body: string;
}

export interface NotificationProvider {
  send(message: OutgoingMessage): Promise<SendOutcome>;
}

export interface ProviderConfig {
  url: string | undefined;
  apiKey: string | undefined;
}

export interface ProvidersOptions {
  push: ProviderConfig;
  email: ProviderConfig;
  sms: ProviderConfig;
  timeoutMs: number;
  /** An open circuit lets a trial call through after this; the outbox's longest backoff. */
  retryBackoffMaxMs: number;
  connectors: ConnectorFactory;
}

function outcomeOf(result: ConnectorResult<HttpAnswer>): SendOutcome {
  if (result.ok) {
    let messageId: string | null = null;
    try {
      const parsed = JSON.parse(result.value.text ?? "{}") as { messageId?: unknown };
      if (typeof parsed.messageId === "string") messageId = parsed.messageId.slice(0, 100);
    } catch {
      // The message was accepted; the id is only for the log.
    }
    return { kind: "delivered", messageId };
  }
  const { code, status, retryable } = result.failure;
  if (status === 410) return { kind: "unregistered" };
  return retryable
    ? { kind: "retry", code, status: status ?? null }
    : { kind: "failed", code, status: status ?? null };
}

class HttpProvider implements NotificationProvider {
  readonly #connector: HttpConnector;
  readonly #path: string;
  readonly #headers: Record<string, string>;
  readonly #body: (message: OutgoingMessage) => Record<string, string>;

  constructor(options: {
    connector: HttpConnector;
    path: string;
    apiKey: string | undefined;
    body: (message: OutgoingMessage) => Record<string, string>;
  }) {
    this.#connector = options.connector;
    this.#path = options.path;
    this.#headers = {
      "content-type": "application/json",
      ...(options.apiKey ? { "x-api-key": options.apiKey } : {}),
    };
    this.#body = options.body;
  }

  async send(message: OutgoingMessage): Promise<SendOutcome> {
    const result = await this.#connector.request({
      method: "POST",
      path: this.#path,
      headers: this.#headers,
      body: JSON.stringify(this.#body(message)),
      idempotencyKey: message.deliveryId,
      read: "text",
    });
    return outcomeOf(result);
  }
}

const ROUTES: Record<
  NotificationChannel,
  { name: string; path: string; body: (message: OutgoingMessage) => Record<string, string> }
> = {
  push: {
    name: "push-provider",
    path: "/push",
    body: (message) => ({ token: message.address, title: message.title, body: message.body }),
  },
  email: {
    name: "email-provider",
    path: "/emails",
    body: (message) => ({ to: message.address, subject: message.title, text: message.body }),
  },
  sms: {
    name: "sms-provider",
    path: "/sms",
    body: (message) => ({ to: message.address, text: `${message.title}: ${message.body}` }),
  },
};

/** One provider per configured channel; a channel without a URL has none (deliveries are skipped). */
export function createProviders(
  options: ProvidersOptions,
): Partial<Record<NotificationChannel, NotificationProvider>> {
  const providers: Partial<Record<NotificationChannel, NotificationProvider>> = {};
  for (const channel of ["push", "email", "sms"] as const) {
    const config = options[channel];
    if (!config.url) continue;
    const route = ROUTES[channel];
    const connector = options.connectors.http({
      name: route.name,
      baseUrl: config.url,
      timeoutMs: options.timeoutMs,
      retry: { attemptsMax: 1 },
      breaker: { halfOpenAfterMs: options.retryBackoffMaxMs },
    });
    providers[channel] = new HttpProvider({
      connector,
      path: route.path,
      apiKey: config.apiKey,
      body: route.body,
    });
  }
  return providers;
}
