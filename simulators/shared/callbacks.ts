import type { Clock } from "../../src/platform/clock.ts";
import { signWebhook } from "../../src/platform/webhook-signature.ts";
import type { BackgroundWork } from "./background.ts";

/** How a simulator retries a callback that was not answered 2xx. */
export interface CallbackRetries {
  callbackAttemptsMax: number;
  callbackBackoffMs: number;
  callbackBackoffMaxMs: number;
}

/** One signed callback: where it goes, what it carries and how it is signed. */
export interface SignedCallback {
  url: string;
  body: string;
  contentType: string;
  /** The header the receiver reads the signature from. */
  signatureHeader: string;
  secret: string;
  /** Headers sent after the signature, e.g. the message type. */
  headers?: Record<string, string>;
}

export interface CallbackTransport {
  clock: Clock;
  fetch: typeof globalThis.fetch;
  callbackTimeoutMs: number;
}

/**
 * Attempts `post` until one is answered 2xx, at most `callbackAttemptsMax` times, with exponential
 * backoff between attempts; a closing simulator stops retrying.
 */
export async function deliverWithRetries(
  post: () => Promise<boolean>,
  retries: CallbackRetries,
  work: BackgroundWork,
): Promise<{ attempts: number; delivered: boolean }> {
  const { callbackAttemptsMax, callbackBackoffMs, callbackBackoffMaxMs } = retries;
  let attempts = 0;
  while (attempts < callbackAttemptsMax && !work.closed) {
    if (attempts > 0) {
      await work.sleep(Math.min(callbackBackoffMs * 2 ** (attempts - 1), callbackBackoffMaxMs));
    }
    attempts++;
    if (await post()) return { attempts, delivered: true };
  }
  return { attempts, delivered: false };
}

/** One signed POST; it is signed again on every attempt so that a late retry is not stale. */
export async function postSignedCallback(
  transport: CallbackTransport,
  callback: SignedCallback,
): Promise<boolean> {
  const nowS = Math.floor(transport.clock.now().getTime() / 1000);
  try {
    const response = await transport.fetch(callback.url, {
      method: "POST",
      headers: {
        "content-type": callback.contentType,
        [callback.signatureHeader]: signWebhook(callback.secret, callback.body, nowS),
        ...callback.headers,
      },
      body: callback.body,
      signal: AbortSignal.timeout(transport.callbackTimeoutMs),
    });
    await response.body?.cancel().catch(() => undefined);
    return response.ok;
  } catch {
    return false;
  }
}
