import { CmdSet } from '../config/cmd-set.js';
import type { GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import type { Players } from '../players/players.js';
import { Status, type StatusCode, statusRow } from '../protocol/status.js';
import type { ClientRequest } from './client-request.js';
import type { RequestSlots } from './request-slots.js';
import type { SessionBudget } from './session-budget.js';
import type { Dispatch, Stage } from './stage.js';

/**
 * The first stage: in-flight limit → rate limit → auth gate (SPEC §7). A refusal never
 * touches a backend and is counted as `drop`. An admitted request takes an in-flight slot,
 * gets its request id and its player_id label, and notes the player's activity; while the
 * session's login is still being confirmed (its offline replay not yet written), it waits
 * for that, so the replay reaches the client before the answer to any later request.
 */
export class AdmissionStage implements Stage {
  readonly name = 'admission';
  private readonly anonymous: CmdSet;
  private readonly idPrefix: string;
  private nextRequestId = 0;
  private readonly maxInFlight: number;
  private readonly perSecond: number;
  private readonly burst: number;

  constructor(
    private readonly config: GatewayConfig,
    private readonly slots: RequestSlots,
    private readonly players: Players,
    private readonly metrics: GatewayMetrics,
  ) {
    const { limits } = config;
    this.anonymous = CmdSet.parse(config.auth.anonymousCmds ?? []);
    this.idPrefix = `${config.node.id}-${Date.now().toString(36)}-`;
    this.maxInFlight = limits.maxInFlightPerSession;
    this.perSecond = limits.requestsPerSecond;
    this.burst = requestBurst(config);
  }

  request(req: ClientRequest, next: Dispatch, reply: Dispatch): void {
    const { session } = req;
    const now = Date.now();
    const budget = this.slots.budget(session, now);
    req.playerLabel = this.playerLabel(session.playerId, budget, now);
    const refusal = this.refusal(req, budget, now);
    if (refusal !== null) {
      this.metrics.error(statusRow(refusal).errorType!);
      req.fail(refusal, 'drop');
      reply(req);
      return;
    }
    this.slots.take(budget);
    req.budget = budget;
    req.requestId = this.idPrefix + (this.nextRequestId++).toString(36);
    const confirming = this.players.touch(session, now);
    if (confirming === null) next(req);
    else confirming.then(() => next(req));
  }

  private refusal(req: ClientRequest, budget: SessionBudget, now: number): StatusCode | null {
    if (budget.inFlight >= this.maxInFlight) return Status.TOO_MANY_IN_FLIGHT;
    if (!budget.takeToken(now, this.perSecond, this.burst)) return Status.RATE_LIMITED;
    if (this.config.auth.required && req.session.playerId === null && !this.anonymous.has(req.cmd)) {
      return Status.NOT_AUTHENTICATED;
    }
    return null;
  }

  private playerLabel(playerId: string | null, budget: SessionBudget, now: number): string {
    const mode = this.config.metrics.playerIdLabel;
    if (mode === 'none' || playerId === null) return '';
    if (mode === 'all') return playerId;
    return budget.countRequest(now) > this.config.metrics.suspectRequestsPerMinute ? playerId : '';
  }
}

/** limits.requestBurst, or twice limits.requestsPerSecond (at least 1) when not set. */
export function requestBurst(config: GatewayConfig): number {
  const { limits } = config;
  return limits.requestBurst ?? Math.max(1, limits.requestsPerSecond * 2);
}
