import type { Clock } from "./clock.ts";
import { type Db, inTransaction, type Tx } from "./db/database.ts";
import { AppError } from "./errors.ts";
import type { IdGenerator } from "./ids.ts";

/**
 * Workflows (architecture rule 2): a command that spans modules is a list of small named steps.
 * Each completed step is recorded (with its output) in its own transaction, so a crash, a restart
 * or a dependency outage resumes at the first step not recorded. A step can still run twice — when
 * the process dies after the step's effect committed and before it was recorded — so every step
 * must be idempotent (an Idempotency-Key, a conditional update). An expected failure (`AppError`)
 * of a step is final: the completed steps are compensated in reverse order and the run ends
 * `compensated`. Any other error is transient: the run is tried again with backoff, by whichever
 * node's maintenance loop finds it due, until `attemptsMax`, then it is parked as `failed` for an
 * operator.
 */

export interface WorkflowStep<Input> {
  name: string;
  /** Does the step's work (idempotently); what it returns is kept for later steps. */
  run(input: Input, outputs: ReadonlyMap<string, unknown>): Promise<unknown>;
  /** Undoes the step after a later step failed for good, where an undo exists. */
  compensate?(input: Input, output: unknown): Promise<void>;
}

export interface WorkflowDefinition<Input> {
  kind: string;
  steps: readonly WorkflowStep<Input>[];
  /** Called once the steps were compensated, with the failure that ended the run. */
  onCompensated?(input: Input, failure: AppError): Promise<void>;
}

export interface WorkflowRunnerOptions {
  db: Db;
  ids: IdGenerator;
  clock: Clock;
  /** Transient failures tried before a run is parked as failed. */
  attemptsMax?: number;
  /** How long one node may run one run before another node may take it over. */
  leaseS?: number;
}

type RunStatus = "running" | "completed" | "compensated" | "failed";

interface RunRow {
  id: string;
  kind: string;
  subject_id: string;
  input: unknown;
  status: RunStatus;
  steps_done: unknown;
  attempts: number;
}

interface StepDone {
  step: string;
  output: unknown;
}

const ATTEMPTS_MAX = 20;
const LEASE_S = 30;
const BACKOFF_MAX_S = 300;

function parsed<T>(value: unknown): T {
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}

export class WorkflowRunner {
  readonly #options: WorkflowRunnerOptions;
  // biome-ignore lint/suspicious/noExplicitAny: each definition has its own input type.
  readonly #definitions = new Map<string, WorkflowDefinition<any>>();

  constructor(options: WorkflowRunnerOptions) {
    this.#options = options;
  }

  define<Input>(definition: WorkflowDefinition<Input>): void {
    if (this.#definitions.has(definition.kind)) throw new Error(`workflow ${definition.kind} defined twice`);
    this.#definitions.set(definition.kind, definition);
  }

  /**
   * Records a run in the caller's transaction (so it exists exactly when the state that calls for
   * it commits). A run of the same kind for the same subject is never started twice: its id is
   * returned instead.
   */
  async start<Input>(tx: Tx, kind: string, subjectId: string, input: Input): Promise<string> {
    if (!this.#definitions.has(kind)) throw new Error(`no workflow ${kind}`);
    const now = this.#options.clock.now();
    const inserted = await tx
      .insertInto("platform_workflow_runs")
      .values({
        id: this.#options.ids.next("wfr"),
        kind,
        subject_id: subjectId,
        input: JSON.stringify(input),
        status: "running",
        next_attempt_at: now,
        created_at: now,
        updated_at: now,
      })
      .onConflict((conflict) => conflict.columns(["kind", "subject_id"]).doNothing())
      .returning("id")
      .executeTakeFirst();
    if (inserted) return inserted.id as string;
    const existing = await tx
      .selectFrom("platform_workflow_runs")
      .select("id")
      .where("kind", "=", kind)
      .where("subject_id", "=", subjectId)
      .executeTakeFirstOrThrow();
    return existing.id as string;
  }

  /** Runs one run's remaining steps now, if no other node holds it. Returns its status after. */
  async run(runId: string): Promise<RunStatus | "leased"> {
    const row = await this.#lease(runId);
    if (!row) return "leased";
    return this.#execute(row);
  }

  /** The maintenance loop's pass: runs that are due (new, or waiting after a transient failure). */
  async runDue(limit = 20): Promise<number> {
    const due = await this.#options.db
      .selectFrom("platform_workflow_runs")
      .select("id")
      .where("status", "=", "running")
      .where("next_attempt_at", "<=", this.#options.clock.now())
      .orderBy("next_attempt_at")
      .limit(limit)
      .execute();
    let ran = 0;
    for (const { id } of due) if ((await this.run(id as string)) !== "leased") ran++;
    return ran;
  }

  async status(kind: string, subjectId: string): Promise<RunStatus | undefined> {
    const row = await this.#options.db
      .selectFrom("platform_workflow_runs")
      .select("status")
      .where("kind", "=", kind)
      .where("subject_id", "=", subjectId)
      .executeTakeFirst();
    return row?.status as RunStatus | undefined;
  }

  async #lease(runId: string): Promise<RunRow | undefined> {
    const now = this.#options.clock.now();
    const leaseS = this.#options.leaseS ?? LEASE_S;
    const row = await this.#options.db
      .updateTable("platform_workflow_runs")
      .set({ lease_until: new Date(now.getTime() + leaseS * 1_000), updated_at: now })
      .where("id", "=", runId)
      .where("status", "=", "running")
      .where((where) => where.or([where("lease_until", "is", null), where("lease_until", "<", now)]))
      .returning(["id", "kind", "subject_id", "input", "status", "steps_done", "attempts"])
      .executeTakeFirst();
    return row as RunRow | undefined;
  }

  async #execute(row: RunRow): Promise<RunStatus> {
    const definition = this.#definitions.get(row.kind);
    if (!definition) throw new Error(`no workflow ${row.kind}`);
    const input = parsed<unknown>(row.input);
    const done = parsed<StepDone[]>(row.steps_done);
    const outputs = new Map(done.map((entry) => [entry.step, entry.output]));
    for (const step of definition.steps) {
      if (outputs.has(step.name)) continue;
      try {
        const output = (await step.run(input, outputs)) ?? null;
        outputs.set(step.name, output);
        done.push({ step: step.name, output });
        await this.#update(row.id, { steps_done: JSON.stringify(done) });
      } catch (error) {
        if (error instanceof AppError) return this.#compensate(row, definition, input, done, error);
        return this.#retryLater(row, error);
      }
    }
    await this.#update(row.id, { status: "completed", lease_until: null });
    return "completed";
  }

  async #compensate(
    row: RunRow,
    definition: WorkflowDefinition<unknown>,
    input: unknown,
    done: StepDone[],
    failure: AppError,
  ): Promise<RunStatus> {
    try {
      for (const entry of [...done].reverse()) {
        const step = definition.steps.find((candidate) => candidate.name === entry.step);
        await step?.compensate?.(input, entry.output);
      }
      await definition.onCompensated?.(input, failure);
    } catch (error) {
      // A compensation that fails is tried again from the start: compensations are idempotent too.
      return this.#retryLater(row, error);
    }
    await this.#update(row.id, { status: "compensated", lease_until: null, last_error: failure.slug });
    return "compensated";
  }

  async #retryLater(row: RunRow, error: unknown): Promise<RunStatus> {
    const attempts = row.attempts + 1;
    const failed = attempts >= (this.#options.attemptsMax ?? ATTEMPTS_MAX);
    const delayS = Math.min(BACKOFF_MAX_S, 2 ** Math.min(attempts, 10));
    // The error's class and message, never a payload: messages of our own code hold no personal data.
    const message =
      error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 500) : "unknown error";
    await this.#update(row.id, {
      attempts,
      status: failed ? "failed" : "running",
      next_attempt_at: new Date(this.#options.clock.now().getTime() + delayS * 1_000),
      lease_until: null,
      last_error: message,
    });
    return failed ? "failed" : "running";
  }

  async #update(id: string, values: Record<string, unknown>): Promise<void> {
    await inTransaction(this.#options.db, (tx) =>
      tx
        .updateTable("platform_workflow_runs")
        .set({ ...values, updated_at: this.#options.clock.now() })
        .where("id", "=", id)
        .execute(),
    );
  }
}
