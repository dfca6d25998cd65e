import { AppError } from "./errors.ts";

interface Pending<Command, Result> {
  command: Command;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

export interface BatcherOptions<Command, Result> {
  /** Executes a batch; settles one result per command, in order (one may fail alone). */
  execute: (commands: Command[]) => Promise<Array<PromiseSettledResult<Result>>>;
  batchMax: number;
  /** Batches running at once; one on PGlite, a few on PostgreSQL. */
  concurrency: number;
  /** Commands waiting at most; beyond it callers get 503 rather than an unbounded queue. */
  queueMax: number;
}

/**
 * Group commit (money movements, fraud decisions). Requests that arrive while a batch is being
 * written wait and go together into the next one, so under load many share one transaction and
 * one commit, and with no load a single request goes out at once (no timer, no added latency).
 */
export class Batcher<Command, Result> {
  readonly #options: BatcherOptions<Command, Result>;
  readonly #queue: Pending<Command, Result>[] = [];
  #active = 0;
  #pumpScheduled = false;
  #idle: Array<() => void> = [];

  constructor(options: BatcherOptions<Command, Result>) {
    this.#options = options;
  }

  submit(command: Command): Promise<Result> {
    if (this.#queue.length >= this.#options.queueMax) {
      return Promise.reject(
        new AppError("service-unavailable", "Too many requests are queued; retry shortly."),
      );
    }
    return new Promise<Result>((resolve, reject) => {
      this.#queue.push({ command, resolve, reject });
      this.#schedulePump();
    });
  }

  /** Resolves when nothing is queued or running; used by graceful shutdown. */
  drain(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Starts batches on the next turn of the event loop rather than at once, so that every request
   * already read from the network in this turn joins the same batch. Starting at once made the
   * first request of a burst a batch of one (measured: 135 transfers/s instead of 1,500 on PGlite,
   * whose queries run on the event loop's thread).
   */
  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#active < this.#options.concurrency && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#options.batchMax);
      this.#active++;
      void this.#run(batch);
    }
    if (this.#active === 0 && this.#queue.length === 0) {
      for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #run(batch: Pending<Command, Result>[]): Promise<void> {
    try {
      const results = await this.#options.execute(batch.map((pending) => pending.command));
      batch.forEach((pending, index) => {
        const result = results[index];
        if (result?.status === "fulfilled") pending.resolve(result.value);
        else pending.reject(result ? result.reason : new Error("the batch returned no result"));
      });
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    } finally {
      this.#active--;
      this.#schedulePump();
    }
  }
}
