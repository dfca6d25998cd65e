/** A minimal typed event emitter that runs anywhere (no Node `events`, no DOM `EventTarget`). */
export class Emitter<Events extends Record<string, unknown>> {
  readonly #listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  /** Subscribes; the returned function unsubscribes. */
  on<Name extends keyof Events>(name: Name, listener: (payload: Events[Name]) => void): () => void {
    let set = this.#listeners.get(name);
    if (!set) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  emit<Name extends keyof Events>(name: Name, payload: Events[Name]): void {
    for (const listener of this.#listeners.get(name) ?? []) {
      // A listener that throws must not stop the SDK's own bookkeeping, nor the other listeners.
      try {
        (listener as (payload: Events[Name]) => void)(payload);
      } catch {
        // Swallowed on purpose; the app owns its listeners' errors.
      }
    }
  }
}
