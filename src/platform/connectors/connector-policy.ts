import {
  BrokenCircuitError,
  BulkheadRejectedError,
  bulkhead,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  type GeneratorFn,
  handleWhen,
  type IBreaker,
  type IPolicy,
  IsolatedCircuitError,
  retry,
  SamplingBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  timeout,
  wrap,
} from "cockatiel";
import {
  type ConnectorFailure,
  type ConnectorResult,
  connectorFailure,
  isTransient,
} from "./connector-failure.ts";

/**
 * The resilience policy of one connector, built with cockatiel: per-attempt timeout, retry with
 * exponential backoff and jitter (idempotent calls only), a circuit breaker and a bulkhead.
 *
 * Order, outermost first: bulkhead → retry → breaker → timeout.
 * - The bulkhead is outermost so that one call, retries and backoff included, holds one slot:
 *   the slots bound what this node has outstanding against the system, and a full bulkhead is
 *   refused at once instead of after a round of retries.
 * - Retry wraps the breaker, so every attempt passes the breaker and is counted by it; once the
 *   circuit opens, the remaining retries are refused without calling the system.
 * - The timeout is innermost: it bounds each attempt, not the call with its backoff.
 */

export type BreakerSettings =
  /** Opens after this many failed attempts in a row. */
  | { kind: "consecutive"; failuresMax: number; halfOpenAfterMs: number }
  /** Opens when more than `threshold` (0 to 1) of the attempts in `durationMs` failed. */
  | { kind: "sampling"; threshold: number; durationMs: number; minimumRps: number; halfOpenAfterMs: number };

export interface PolicySettings {
  /** Upper bound on one attempt, connection and whole answer included. */
  timeoutMs: number;
  /** Attempts per idempotent call, the first included (1 = never retry). */
  attemptsMax: number;
  /** The first backoff; each later one doubles, up to `backoffMaxMs`. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  breaker: BreakerSettings;
  /** Calls running at once against the system. */
  concurrencyMax: number;
  /** Calls waiting for a slot; beyond, `bulkhead-full`. */
  queueMax: number;
}

export type BreakerState = "closed" | "half-open" | "open";

/** One attempt's outcome. Transient failures are thrown inside so that retry and breaker see them. */
export type AttemptResult<T> = { ok: true; value: T } | { ok: false; failure: ConnectorFailure };

export interface ExecuteOptions {
  /** Only idempotent calls are retried: repeating anything else could do it twice. */
  idempotent: boolean;
}

class TransientAttemptFailure extends Error {
  readonly failure: ConnectorFailure;
  constructor(failure: ConnectorFailure) {
    super(`connector attempt failed: ${failure.code}`);
    this.failure = failure;
  }
}

/**
 * Exponential backoff with "equal jitter": the n-th wait (from 0) is drawn from
 * [c/2, c] where c = min(max, initial × 2ⁿ). Half the wait is jitter, so clients that failed
 * together do not come back together; the other half guarantees the wait grows until the cap.
 */
export function backoffDelayMs(
  retryIndex: number,
  settings: { backoffInitialMs: number; backoffMaxMs: number },
  random: () => number,
): number {
  const ceilingMs = Math.min(
    settings.backoffMaxMs,
    settings.backoffInitialMs * 2 ** Math.min(retryIndex, 30),
  );
  return Math.round(ceilingMs / 2 + random() * (ceilingMs / 2));
}

function equalJitter(settings: PolicySettings, random: () => number): GeneratorFn<number> {
  return (retryIndex = 0) => [backoffDelayMs(retryIndex, settings, random), retryIndex + 1];
}

function breakerOf(settings: BreakerSettings): IBreaker {
  if (settings.kind === "consecutive") return new ConsecutiveBreaker(settings.failuresMax);
  return new SamplingBreaker({
    threshold: settings.threshold,
    duration: settings.durationMs,
    minimumRps: settings.minimumRps,
  });
}

function whole(name: string, value: number, minimum: number, maximum: number): void {
  if (!Number.isInteger(value) || value < minimum || value > maximum) {
    throw new Error(`connector ${name} must be a whole number from ${minimum} to ${maximum}, got ${value}`);
  }
}

/** Bounds on every setting: a typo in code should fail at start, not as a retry storm. */
export function validatePolicySettings(settings: PolicySettings): void {
  whole("timeoutMs", settings.timeoutMs, 1, 600_000);
  whole("attemptsMax", settings.attemptsMax, 1, 10);
  whole("backoffInitialMs", settings.backoffInitialMs, 1, 600_000);
  whole("backoffMaxMs", settings.backoffMaxMs, settings.backoffInitialMs, 3_600_000);
  whole("breaker.halfOpenAfterMs", settings.breaker.halfOpenAfterMs, 1, 3_600_000);
  if (settings.breaker.kind === "consecutive")
    whole("breaker.failuresMax", settings.breaker.failuresMax, 1, 1_000);
  else if (!(settings.breaker.threshold > 0 && settings.breaker.threshold <= 1)) {
    throw new Error("connector breaker.threshold must be above 0 and at most 1");
  }
  whole("concurrencyMax", settings.concurrencyMax, 1, 10_000);
  whole("queueMax", settings.queueMax, 0, 1_000_000);
}

export class ConnectorPolicy {
  readonly #breaker: ReturnType<typeof circuitBreaker>;
  readonly #idempotent: IPolicy;
  readonly #once: IPolicy;

  constructor(options: {
    settings: PolicySettings;
    /** Jitter source; injected so tests are deterministic. */
    random?: () => number;
    onStateChange?: (state: BreakerState) => void;
    onRetry?: (delayMs: number) => void;
  }) {
    const { settings } = options;
    validatePolicySettings(settings);
    const transient = handleWhen(
      (error) => error instanceof TransientAttemptFailure || error instanceof TaskCancelledError,
    );
    const limiter = bulkhead(settings.concurrencyMax, settings.queueMax);
    const retryPolicy = retry(transient, {
      maxAttempts: settings.attemptsMax - 1,
      backoff: new ExponentialBackoff({
        generator: equalJitter(settings, options.random ?? Math.random),
        initialDelay: settings.backoffInitialMs,
        maxDelay: settings.backoffMaxMs,
      }),
    });
    if (options.onRetry) {
      const onRetry = options.onRetry;
      retryPolicy.onRetry(({ delay }) => onRetry(delay));
    }
    this.#breaker = circuitBreaker(transient, {
      breaker: breakerOf(settings.breaker),
      halfOpenAfter: settings.breaker.halfOpenAfterMs,
    });
    if (options.onStateChange) {
      const onStateChange = options.onStateChange;
      this.#breaker.onStateChange((state) => onStateChange(stateName(state)));
    }
    const perAttempt = timeout(settings.timeoutMs, TimeoutStrategy.Aggressive);
    this.#idempotent = wrap(limiter, retryPolicy, this.#breaker, perAttempt);
    this.#once = wrap(limiter, this.#breaker, perAttempt);
  }

  get state(): BreakerState {
    return stateName(this.#breaker.state);
  }

  /**
   * Runs `attempt` under the policy. The attempt receives the signal that the timeout aborts;
   * it answers transient failures (timeout, network, unavailable) as values like any other, and
   * this turns them into what cockatiel retries and counts.
   */
  async execute<T>(
    attempt: (signal: AbortSignal) => Promise<AttemptResult<T>>,
    options: ExecuteOptions,
  ): Promise<ConnectorResult<T>> {
    const policy = options.idempotent ? this.#idempotent : this.#once;
    try {
      return await policy.execute(async ({ signal }) => {
        const result = await attempt(signal);
        if (!result.ok && isTransient(result.failure.code)) throw new TransientAttemptFailure(result.failure);
        return result;
      });
    } catch (error) {
      if (error instanceof TransientAttemptFailure) return { ok: false, failure: error.failure };
      if (error instanceof TaskCancelledError) return { ok: false, failure: connectorFailure("timeout") };
      if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) {
        return { ok: false, failure: connectorFailure("circuit-open") };
      }
      if (error instanceof BulkheadRejectedError) {
        return { ok: false, failure: connectorFailure("bulkhead-full") };
      }
      // Anything else is a bug in the attempt, not a failure of the other system.
      throw error;
    }
  }
}

function stateName(state: CircuitState): BreakerState {
  if (state === CircuitState.Closed) return "closed";
  return state === CircuitState.HalfOpen ? "half-open" : "open";
}
