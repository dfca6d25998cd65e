/**
 * The background work of a simulator (decisions, settlements, callbacks and their retries). It is
 * tracked so that `idle()` can wait for it and `close()` can end it: a closed simulator cuts every
 * sleep short, and work that sees `closed` stops instead of calling back after the test is over.
 */
export class BackgroundWork {
  readonly #onError: (error: unknown) => void;
  readonly #pending = new Set<Promise<unknown>>();
  readonly #sleepers = new Map<NodeJS.Timeout, () => void>();
  #closed = false;

  constructor(onError: (error: unknown) => void) {
    this.#onError = onError;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** How many tracked pieces of work are scheduled or running. */
  get size(): number {
    return this.#pending.size;
  }

  /** Tracks `work` for `idle()` and `close()`; a failure goes to `onError`, never unhandled. */
  track<T>(work: Promise<T>): Promise<T> {
    this.#pending.add(work);
    work.then(
      () => this.#pending.delete(work),
      (error: unknown) => {
        this.#pending.delete(work);
        this.#onError(error);
      },
    );
    return work;
  }

  /** Resolves after `ms`, or at once when the simulator closes (or has closed). */
  sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#sleepers.delete(timer);
        resolve();
      }, ms);
      this.#sleepers.set(timer, resolve);
    });
  }

  /** Resolves when nothing is scheduled or running, including work that tracked work started. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const [timer, wake] of this.#sleepers) {
      clearTimeout(timer);
      wake();
    }
    this.#sleepers.clear();
    await this.idle();
  }
}
