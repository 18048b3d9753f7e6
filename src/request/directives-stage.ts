import type { Logger } from 'pino';
import type { Directives } from '../backend/backend-call.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { groupNameProblem, playerIdProblem } from '../players/names.js';
import type { Players } from '../players/players.js';
import { Status } from '../protocol/status.js';
import type { Session } from '../session/session.js';
import type { ClientRequest } from './client-request.js';
import type { Dispatch, Stage } from './stage.js';

/**
 * Applies a successful answer's directives (SPEC §4: bind, unbind, join, leave, close)
 * after its RESPONSE was written: the answer goes on first, then the directives run, in
 * that order, so a login's RESPONSE always precedes the player's replayed offline messages.
 * A player id or group name the API could not address is refused (the RESPONSE stands).
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
      const bind = d.bind?.trim();
      if (bind) {
        if (this.valid('x-gateway-bind', bind, playerIdProblem(bind), session, requestId))
          await this.players.bind(session, bind);
      } else if (d.unbind) await this.players.unbind(session);
      const player = session.playerId;
      if (player !== null) {
        if (d.join)
          for (const g of this.groups('x-gateway-join', d.join, session, requestId))
            await this.players.join(g, [player]);
        if (d.leave)
          for (const g of this.groups('x-gateway-leave', d.leave, session, requestId))
            await this.players.leave(g, [player]);
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

  /** The valid group names of a join or leave list; each invalid one is refused and counted. */
  private groups(header: string, value: string, session: Session, requestId: string): string[] {
    return value
      .split(',')
      .map((g) => g.trim())
      .filter((g) => g.length > 0 && this.valid(header, g, groupNameProblem(g), session, requestId));
  }

  /**
   * False for a name the API could not address (player ids and group names follow one rule,
   * players/names.ts): the directive is refused, counted as invalid_directive and logged.
   */
  private valid(
    header: string,
    value: string,
    problem: string | undefined,
    session: Session,
    requestId: string,
  ): boolean {
    if (problem === undefined) return true;
    this.metrics.error('invalid_directive');
    this.log.warn(
      { requestId, sessionId: session.id, header, value: value.slice(0, 64), problem },
      'backend directive refused',
    );
    return false;
  }
}
