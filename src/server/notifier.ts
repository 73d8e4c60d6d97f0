// Fan-out of server events (background embedding, index rebuilds) to every connected MCP
// session as log notifications. Each session's server subscribes when it connects and
// unsubscribes when it closes; the SDK filters by the level each client set.
export type NotificationLevel = 'debug' | 'info' | 'notice' | 'warning' | 'error';

export interface ServerEvent {
  level: NotificationLevel;
  /** Which part of the server speaks: "embedding", "index". */
  logger: string;
  data: Record<string, unknown>;
}

export class Notifier {
  private readonly listeners = new Set<(e: ServerEvent) => void>();

  subscribe(listener: (e: ServerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: ServerEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // One broken session must not stop the others from hearing about it.
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }
}
