import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { CallOutcome } from '../routing/backend-call.js';
import type { BackendClient } from '../routing/backend-client.js';
import type { BackendTarget } from '../routing/backend-target.js';
import type { Session } from '../session/session.js';

const EMPTY = Buffer.alloc(0);

/**
 * Posts `online` / `offline` events to events.target (SPEC §4). Fire and forget: a
 * session never waits for it; failures are logged and counted in gateway_events_total.
 */
export class LifecycleEvents {
  private next = 0;

  constructor(
    private readonly target: BackendTarget,
    private readonly backends: BackendClient,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    private readonly nodeId: string,
  ) {}

  send(event: 'online' | 'offline', playerId: string, session: Session): void {
    const requestId = `${this.nodeId}-event-${(this.next++).toString(36)}`;
    this.backends.call(
      this.target,
      {
        cmd: 0,
        seq: 0,
        kind: 'event',
        sessionId: session.id,
        playerId,
        clientIp: session.remoteAddress,
        requestId,
        extraHeaders: ['x-gateway-event', event],
      },
      EMPTY,
      (call) => {
        const ok = call.outcome === CallOutcome.RESPONSE && call.statusCode >= 200 && call.statusCode < 300;
        this.metrics.events.child(event, ok ? 'ok' : 'error').inc();
        if (!ok) {
          this.log.warn(
            {
              requestId,
              event,
              playerId,
              httpStatus: call.statusCode || undefined,
              err: call.error?.message,
            },
            'lifecycle event failed',
          );
        }
      },
    );
  }
}
