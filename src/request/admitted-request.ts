import type { RequestCell } from '../metrics/metrics.js';
import type { Session } from '../session/session.js';

/**
 * One REQUEST or NOTIFY that passed the limits and the auth gate, from admission until
 * it is answered and counted. The plain path and the plugin path (which extends it)
 * carry the same object through forward → answer → finish.
 */
export class AdmittedRequest {
  constructor(
    /** The session it came from (plugins see a narrower view of it). */
    readonly client: Session,
    readonly notify: boolean,
    readonly cmd: number,
    readonly seq: number,
    readonly body: Buffer,
    /** x-request-id of the forwarded POST, also in every log line about this request. */
    readonly requestId: string,
    /** The player_id label it is counted under ('' for most requests; see metrics.playerIdLabel). */
    readonly playerLabel: string,
    /** performance.now() when its frame was handled: gateway_request_duration_seconds starts here. */
    readonly startedAt: number,
    /** The metrics children of (cmd, route_target); set when the target is known. */
    public cell: RequestCell | null,
  ) {}
}
