import { isProblem, type ProblemDetails, problemSlug, SessionEndedError } from "./errors.ts";
import type { KeyValueStorage } from "./storage.ts";

/** Money-moving commands the outbox knows; each is a POST that carries an Idempotency-Key. */
export type CommandKind = "transfer" | "scheduled-transfer" | "payee" | "legacy-payment";

export interface OutboxCommand {
  /** Client-generated, persisted before the first send; every resend reuses it (exactly once). */
  idempotencyKey: string;
  kind: CommandKind;
  path: string;
  body: unknown;
  queuedAtMs: number;
  /** `step-up-required` commands wait for `provideStepUp` and are skipped by `flush`. */
  state: "queued" | "step-up-required";
  stepUpProof?: string;
}

export type CommandOutcome =
  | { kind: "accepted"; command: OutboxCommand; status: number; result: unknown }
  | { kind: "rejected"; command: OutboxCommand; status: number; reason: string; problem?: ProblemDetails }
  | { kind: "step-up-required"; command: OutboxCommand; problem: ProblemDetails };

/** What the sync response says about a device's recently processed commands. */
export interface ProcessedCommand {
  idempotencyKey: string;
  /** The server's answer status (the sync route names it `statusCode`). */
  statusCode?: number;
  status?: number;
  /** When absent, derived from the status: below 400 accepted, otherwise rejected. */
  outcome?: "accepted" | "rejected";
  command?: string;
  resourceId?: string | null;
  processedAt?: string;
  result?: unknown;
  problem?: ProblemDetails;
}

export interface FlushResult {
  delivered: number;
  remaining: number;
  /** The flush stopped because the server could not be reached (or answered a transient error). */
  interrupted: boolean;
}

export interface OutboxOptions {
  storage: KeyValueStorage;
  send: (request: Request) => Promise<Response>;
  baseUrl: string;
  now: () => number;
  newKey: () => string;
  onOutcome: (outcome: CommandOutcome) => void;
  /** Upper bound on queued commands (architecture rule 11). */
  capacity: number;
}

const STORAGE_KEY = "omnicore.outbox";
const TRANSIENT = new Set([408, 409, 429, 500, 502, 503, 504]);

/**
 * The durable queue of commands. A command is written to storage, with its idempotency key,
 * before anything is sent, so an app killed mid-request resends the same key after a restart and
 * the server answers with the first result instead of moving the money again. Commands are sent
 * one at a time, oldest first.
 */
export class Outbox {
  readonly #options: OutboxOptions;
  /** Serialises every read-modify-write of the stored queue. */
  #lock: Promise<unknown> = Promise.resolve();
  #flushing: Promise<FlushResult> | undefined;
  #nextFlush: Promise<FlushResult> | undefined;

  constructor(options: OutboxOptions) {
    this.#options = options;
  }

  async list(): Promise<OutboxCommand[]> {
    return (await this.#options.storage.get<OutboxCommand[]>(STORAGE_KEY)) ?? [];
  }

  /** Persists a command; it is sent by the next `flush`. */
  enqueue(kind: CommandKind, path: string, body: unknown): Promise<OutboxCommand> {
    return this.#mutate((queue) => {
      if (queue.length >= this.#options.capacity) {
        throw new Error(`the outbox holds ${queue.length} commands, its limit; deliver them first`);
      }
      const command: OutboxCommand = {
        idempotencyKey: this.#options.newKey(),
        kind,
        path,
        body,
        queuedAtMs: this.#options.now(),
        state: "queued",
      };
      return { queue: [...queue, command], value: command };
    });
  }

  /** Re-queues a command that needed step-up, with the proof the app obtained. */
  provideStepUp(idempotencyKey: string, proof: string): Promise<void> {
    return this.#mutate((queue) => ({
      queue: queue.map((command) =>
        command.idempotencyKey === idempotencyKey
          ? { ...command, state: "queued" as const, stepUpProof: proof }
          : command,
      ),
      value: undefined,
    }));
  }

  /** Drops a command the app gave up on (it was never accepted, or the app learnt its fate elsewhere). */
  discard(idempotencyKey: string): Promise<void> {
    return this.#mutate((queue) => ({
      queue: queue.filter((command) => command.idempotencyKey !== idempotencyKey),
      value: undefined,
    }));
  }

  /** Settles queued commands the server reports as processed (from the sync response). */
  async applyProcessed(processed: ProcessedCommand[]): Promise<void> {
    if (processed.length === 0) return;
    const byKey = new Map(processed.map((entry) => [entry.idempotencyKey, entry]));
    const settled = await this.#mutate((queue) => ({
      queue: queue.filter((command) => !byKey.has(command.idempotencyKey)),
      value: queue.filter((command) => byKey.has(command.idempotencyKey)),
    }));
    for (const command of settled) {
      const entry = byKey.get(command.idempotencyKey)!;
      const status = entry.statusCode ?? entry.status ?? (entry.outcome === "rejected" ? 422 : 201);
      const outcome = entry.outcome ?? (status < 400 ? "accepted" : "rejected");
      this.#options.onOutcome(
        outcome === "accepted"
          ? { kind: "accepted", command, status, result: entry.result ?? { id: entry.resourceId ?? null } }
          : {
              kind: "rejected",
              command,
              status,
              reason: reasonOf(entry.problem),
              ...problemField(entry.problem),
            },
      );
    }
  }

  /**
   * Sends queued commands in order until the queue is empty or the network fails. Passes never
   * overlap. A pass already running may have read the queue before the caller's latest command, so
   * a call during one gets the next pass (one, shared by every call made meanwhile), which covers
   * everything queued before the call.
   */
  flush(): Promise<FlushResult> {
    if (!this.#flushing) return this.#startFlush();
    this.#nextFlush ??= this.#flushing
      .catch(() => undefined)
      .then(() => {
        this.#nextFlush = undefined;
        return this.#startFlush();
      });
    return this.#nextFlush;
  }

  #startFlush(): Promise<FlushResult> {
    const run: Promise<FlushResult> = this.#flushAll().finally(() => {
      if (this.#flushing === run) this.#flushing = undefined;
    });
    this.#flushing = run;
    return run;
  }

  async #flushAll(): Promise<FlushResult> {
    let delivered = 0;
    const skipped = new Set<string>();
    for (let guard = 0; guard <= this.#options.capacity; guard++) {
      const next = (await this.list()).find(
        (command) => command.state === "queued" && !skipped.has(command.idempotencyKey),
      );
      if (!next) break;
      const step = await this.#deliver(next);
      if (step === "interrupted")
        return { delivered, remaining: (await this.list()).length, interrupted: true };
      if (step === "delivered") delivered++;
      else skipped.add(next.idempotencyKey);
    }
    return { delivered, remaining: (await this.list()).length, interrupted: false };
  }

  async #deliver(command: OutboxCommand): Promise<"delivered" | "parked" | "interrupted"> {
    let response: Response;
    try {
      response = await this.#options.send(this.#request(command));
    } catch (error) {
      // Offline, cut off, or signed out: keep the command, with its key, for the next flush.
      if (error instanceof SessionEndedError || (error as Error).name === "NetworkError")
        return "interrupted";
      throw error;
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (response.ok) {
      await this.discard(command.idempotencyKey);
      this.#options.onOutcome({ kind: "accepted", command, status: response.status, result: body });
      return "delivered";
    }
    const problem = isProblem(body) ? body : undefined;
    if (response.status === 401 && problemSlug(problem) === "step-up-required") {
      await this.#mutate((queue) => ({
        queue: queue.map((queued) =>
          queued.idempotencyKey === command.idempotencyKey
            ? { ...queued, state: "step-up-required" as const }
            : queued,
        ),
        value: undefined,
      }));
      this.#options.onOutcome({ kind: "step-up-required", command, problem: problem! });
      return "parked";
    }
    if (TRANSIENT.has(response.status) || response.status === 401) return "interrupted";
    await this.discard(command.idempotencyKey);
    this.#options.onOutcome({
      kind: "rejected",
      command,
      status: response.status,
      reason: reasonOf(problem),
      ...problemField(problem),
    });
    return "delivered";
  }

  #request(command: OutboxCommand): Request {
    const headers = new Headers({
      "content-type": "application/json",
      "idempotency-key": command.idempotencyKey,
    });
    if (command.stepUpProof) headers.set("x-step-up-proof", command.stepUpProof);
    return new Request(new URL(command.path, this.#options.baseUrl), {
      method: "POST",
      headers,
      body: JSON.stringify(command.body),
    });
  }

  #mutate<T>(change: (queue: OutboxCommand[]) => { queue: OutboxCommand[]; value: T }): Promise<T> {
    const run = this.#lock.then(async () => {
      const { queue, value } = change(await this.list());
      await this.#options.storage.set(STORAGE_KEY, queue);
      return value;
    });
    this.#lock = run.catch(() => undefined);
    return run;
  }
}

function reasonOf(problem: ProblemDetails | undefined): string {
  if (!problem) return "rejected";
  return problemSlug(problem) ?? "rejected";
}

function problemField(problem: ProblemDetails | undefined): { problem?: ProblemDetails } {
  return problem ? { problem } : {};
}
