/**
 * A minimal typed event emitter that runs in browsers too (node:events does not). Each
 * event carries one argument. A listener that throws does not break the client: the
 * error is rethrown on a fresh stack, where the host reports it as uncaught.
 */
// biome-ignore lint/suspicious/noExplicitAny: listener parameter types are checked per event by `on`.
export type EventMap<E> = { [K in keyof E]: (arg: any) => void };

export class Emitter<E extends EventMap<E>> {
  private readonly listeners = new Map<keyof E, Set<E[keyof E]>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: E[K]): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof E>(event: K, listener: E[K]): () => void {
    const off = this.on(event, ((arg: Parameters<E[K]>[0]) => {
      off();
      listener(arg);
    }) as E[K]);
    return off;
  }

  off<K extends keyof E>(event: K, listener: E[K]): void {
    this.listeners.get(event)?.delete(listener);
  }

  protected emit<K extends keyof E>(event: K, arg: Parameters<E[K]>[0]): void {
    const set = this.listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        listener(arg);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }

  protected listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }
}
