import { FrameType } from '../protocol/frame.js';
import type { Session } from '../session/session.js';
import { ClientRequest } from './client-request.js';
import type { RequestFinisher } from './request-finisher.js';
import type { RequestSlots } from './request-slots.js';
import type { RouteTable } from './route-table.js';
import { compose, type Dispatch, type Stage } from './stage.js';

/**
 * Where every REQUEST and NOTIFY frame enters: looked up in the route table, then sent
 * through the stages (admission → directives → plugins → forward, docs/architecture.md)
 * and ended by the finisher. Never throws.
 */
export class RequestPipeline {
  private readonly dispatch: Dispatch;

  constructor(
    private readonly routes: RouteTable,
    stages: readonly Stage[],
    finisher: RequestFinisher,
    private readonly slots: RequestSlots,
  ) {
    this.dispatch = compose(stages, finisher.finish);
  }

  /** Requests admitted and not yet answered, all sessions. */
  get inFlight(): number {
    return this.slots.total;
  }

  /** A REQUEST or NOTIFY frame of `session`; `body` stays valid (a view into the read it came in). */
  handle(session: Session, type: number, cmd: number, seq: number, body: Buffer): void {
    const startedAt = performance.now();
    const route = this.routes.lookup(cmd);
    this.dispatch(new ClientRequest(session, type === FrameType.NOTIFY, cmd, seq, body, route, startedAt));
  }

  /** The session is gone: its budget is forgotten (requests still in flight finish as usual). */
  sessionClosed(session: Session): void {
    this.slots.forget(session);
  }
}
