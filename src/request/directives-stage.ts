import type { Logger } from 'pino';
import type { Directives } from '../backend/backend-call.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { Players } from '../players/players.js';
import { Status } from '../protocol/status.js';
import type { Session } from '../session/session.js';
import type { ClientRequest } from './client-request.js';
import type { Dispatch, Stage } from './stage.js';

/**
 * Applies a successful answer's directives (SPEC §4: bind, unbind, join, leave, close)
 * after its RESPONSE was written: the answer goes on first, then the directives run, in
 * that order, so a login's RESPONSE always precedes the player's replayed offline messages.
 */
export class DirectivesStage implements Stage {
  readonly name = 'directives';

  constructor(
    private readonly players: Players,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {}

  response(req: ClientRequest, next: Dispatch): void {
    next(req);
    if (req.error === null && req.directives !== null) this.apply(req.directives, req.session, req.requestId);
  }

  private apply(d: Directives, session: Session, requestId: string): void {
    const run = async (): Promise<void> => {
      if (d.bind) await this.players.bind(session, d.bind.trim());
      else if (d.unbind) await this.players.unbind(session);
      const player = session.playerId;
      if (player !== null) {
        if (d.join) for (const g of groupList(d.join)) await this.players.join(g, [player]);
        if (d.leave) for (const g of groupList(d.leave)) await this.players.leave(g, [player]);
      }
      if (d.close !== null) session.kick(Status.KICKED, d.close || undefined);
    };
    run().catch((err: Error) => {
      this.metrics.error('internal');
      this.log.error(
        { requestId, sessionId: session.id, err: err.message },
        'applying backend directives failed',
      );
    });
  }
}

function groupList(value: string): string[] {
  return value
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g.length > 0);
}
