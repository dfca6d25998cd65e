import { ApiProblemError, isProblem, NetworkError, SessionEndedError } from "./errors.ts";
import type { Scheduler } from "./retry.ts";

/**
 * Where the rotating refresh token lives. On a phone this is the Keychain / Keystore; the SDK
 * ships a memory store and (in `@omnicore/sdk/node`) a file store with owner-only permissions.
 */
export interface SecureStore {
  getRefreshToken(): Promise<string | undefined>;
  setRefreshToken(token: string): Promise<void>;
  clear(): Promise<void>;
}

export class MemorySecureStore implements SecureStore {
  #token: string | undefined;
  async getRefreshToken(): Promise<string | undefined> {
    return this.#token;
  }
  async setRefreshToken(token: string): Promise<void> {
    this.#token = token;
  }
  async clear(): Promise<void> {
    this.#token = undefined;
  }
}

/** The server's token response (POST /v1/auth/login, /login/mfa, /refresh). */
export interface TokensResponse {
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  tokenType?: string;
}

export type SessionEndReason = "logout" | "refresh-token-rejected";

export interface TokenManagerOptions {
  baseUrl: string;
  fetch: typeof fetch;
  secureStore: SecureStore;
  scheduler: Scheduler;
  /** Refresh this long before the access token expires, so a request never carries a dying token. */
  refreshBeforeExpiryMs: number;
  onSessionEnded: (reason: SessionEndReason) => void;
}

interface AccessToken {
  token: string;
  expiresAtMs: number;
}

/**
 * Holds the access token in memory and the refresh token in the secure store. Refreshes are
 * single flight: however many requests find the token stale or get a 401 at once, one refresh
 * request goes out and all of them wait for it, because a second concurrent refresh would present
 * an already-rotated token, which the server treats as theft and answers by revoking the session.
 */
export class TokenManager {
  readonly #options: TokenManagerOptions;
  #access: AccessToken | undefined;
  #refreshing: Promise<string> | undefined;
  /** How many refresh requests were sent; for tests and diagnostics. */
  refreshCount = 0;

  constructor(options: TokenManagerOptions) {
    this.#options = options;
  }

  async hasSession(): Promise<boolean> {
    return (await this.#options.secureStore.getRefreshToken()) !== undefined;
  }

  /** Stores a fresh pair; the refresh token is durable before the access token is used. */
  async accept(tokens: TokensResponse): Promise<void> {
    await this.#options.secureStore.setRefreshToken(tokens.refreshToken);
    this.#access = {
      token: tokens.accessToken,
      expiresAtMs: this.#options.scheduler.now() + tokens.expiresIn * 1000,
    };
  }

  /** A token that is valid for at least `refreshBeforeExpiryMs` more, refreshing if needed. */
  async accessToken(): Promise<string> {
    const access = this.#access;
    if (access && access.expiresAtMs - this.#options.scheduler.now() > this.#options.refreshBeforeExpiryMs) {
      return access.token;
    }
    return this.refresh();
  }

  /**
   * The server refused `rejected` with a 401. If another request has refreshed meanwhile the
   * newer token is returned without a second refresh.
   */
  async afterRejection(rejected: string): Promise<string> {
    if (this.#access && this.#access.token !== rejected) return this.#access.token;
    this.#access = undefined;
    return this.refresh();
  }

  /** Refreshes now, joining a refresh already in flight. */
  refresh(): Promise<string> {
    if (!this.#refreshing) {
      this.#refreshing = this.#refreshOnce().finally(() => {
        this.#refreshing = undefined;
      });
    }
    return this.#refreshing;
  }

  /** Forgets both tokens and tells the app. */
  async end(reason: SessionEndReason): Promise<void> {
    this.#access = undefined;
    await this.#options.secureStore.clear();
    this.#options.onSessionEnded(reason);
  }

  /** The current access token without refreshing (for logout, which must not refresh). */
  currentAccessToken(): string | undefined {
    return this.#access?.token;
  }

  async #refreshOnce(): Promise<string> {
    const refreshToken = await this.#options.secureStore.getRefreshToken();
    if (!refreshToken) throw new SessionEndedError();
    this.refreshCount++;
    let response: Response;
    try {
      response = await this.#options.fetch(new URL("/v1/auth/refresh", this.#options.baseUrl), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refreshToken }),
      });
    } catch (error) {
      // Offline: keep the tokens; the server accepts the same token once more shortly after a lost answer.
      throw new NetworkError(`token refresh failed: ${(error as Error).message}`, { cause: error });
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (response.ok) {
      await this.accept(body as TokensResponse);
      return this.#access!.token;
    }
    if (response.status === 401) {
      // Spent, revoked, or reused elsewhere (the server revoked the whole family): the session is over.
      await this.end("refresh-token-rejected");
      throw new SessionEndedError("The server ended the session; sign in again.");
    }
    if (isProblem(body)) throw new ApiProblemError(body);
    throw new NetworkError(`token refresh answered ${response.status}`);
  }
}
