import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { CallOutcome } from './backend-call.js';
import type { BackendClient } from './backend-client.js';
import type { Target } from './target.js';

const EMPTY = Buffer.alloc(0);
/** Events of one player waiting behind the one in flight; beyond this the oldest are dropped. */
const MAX_WAITING_PER_PLAYER = 16;

type LifecycleEvent = 'online' | 'offline';

interface PendingEvent {
  event: LifecycleEvent;
  sessionId: string;
  clientIp: string;
}

/**
 * Posts `online` / `offline` events to events.target (SPEC §4). A session never waits
 * for it; failures are logged and counted in gateway_events_total.
 *
 * The events of one player are posted one after another, in the order they happened: a
 * quick login and logout must not reach the backend as offline-then-online, which a pool
 * of several connections would otherwise allow. Different players' events go in parallel.
 */
export class LifecycleEvents {
  private next = 0;
  /** Players with an event in flight, and the events queued behind it. */
  private readonly queues = new Map<string, PendingEvent[]>();

  constructor(
    private readonly target: Target,
    private readonly backends: BackendClient,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    private readonly nodeId: string,
  ) {}

  send(
    event: LifecycleEvent,
    playerId: string,
    session: { readonly id: string; readonly remoteAddress: string },
  ): void {
    const pending = { event, sessionId: session.id, clientIp: session.remoteAddress };
    const waiting = this.queues.get(playerId);
    if (waiting === undefined) {
      this.queues.set(playerId, []);
      this.post(playerId, pending);
      return;
    }
    if (waiting.length >= MAX_WAITING_PER_PLAYER) {
      const dropped = waiting.shift()!;
      this.metrics.events.child(dropped.event, 'dropped').inc();
    }
    waiting.push(pending);
  }

  private post(playerId: string, e: PendingEvent): void {
    const requestId = `${this.nodeId}-event-${(this.next++).toString(36)}`;
    const endpoint = this.target.pick(playerId);
    if (endpoint === undefined) {
      this.metrics.events.child(e.event, 'error').inc();
      this.log.warn(
        { requestId, event: e.event, playerId, target: this.target.name },
        'lifecycle event failed: no instance',
      );
      this.postNext(playerId);
      return;
    }
    this.backends.call(
      endpoint,
      {
        cmd: 0,
        seq: 0,
        kind: 'event',
        sessionId: e.sessionId,
        playerId,
        clientIp: e.clientIp,
        requestId,
        extraHeaders: ['x-gateway-event', e.event],
      },
      EMPTY,
      (call) => {
        const ok = call.outcome === CallOutcome.RESPONSE && call.statusCode >= 200 && call.statusCode < 300;
        this.metrics.events.child(e.event, ok ? 'ok' : 'error').inc();
        if (!ok) {
          this.log.warn(
            {
              requestId,
              event: e.event,
              playerId,
              httpStatus: call.statusCode || undefined,
              err: call.error?.message,
            },
            'lifecycle event failed',
          );
        }
        this.postNext(playerId);
      },
    );
  }

  /** Posts the player's next waiting event, if any. */
  private postNext(playerId: string): void {
    const waiting = this.queues.get(playerId)!;
    const following = waiting.shift();
    if (following === undefined) this.queues.delete(playerId);
    else this.post(playerId, following);
  }
}
