import type { Directives } from '../backend/backend-call.js';
import type { RequestResult } from '../metrics/metrics.js';
import type { StatusCode } from '../protocol/status.js';
import type { Session } from '../session/session.js';
import type { Route } from './route-table.js';
import type { SessionBudget } from './session-budget.js';

const EMPTY = Buffer.alloc(0);

/**
 * One REQUEST or NOTIFY on its way through the stages, and its answer on the way back.
 * The stages write the answer fields; the RequestFinisher writes the RESPONSE from them,
 * counts the request and releases its slot. One object per request, nothing else.
 */
export class ClientRequest {
  /** Where it goes: the route's target until a stage (a plugin) chooses another. */
  target: string | null;
  /** The route_target label it is counted under. */
  label: string;
  /** The player_id label ('' for most requests; see metrics.playerIdLabel). */
  playerLabel = '';
  /** x-request-id of the forwarded POST, also in every log line about it; set at admission. */
  requestId = '';
  /** The session's budget while the request holds an in-flight slot (set at admission). */
  budget: SessionBudget | null = null;
  /** A stage's own per-request object (the plugin stage's context), when it needs one. */
  extension: unknown = null;
  /** True once the forward stage sent it to a backend. */
  forwarded = false;

  // The answer.
  /** 0, an application code 1000–65535, or the gateway status of `error`. */
  status = 0;
  /** A gateway status: the RESPONSE carries the SPEC's JSON error body instead of `answer`. */
  error: StatusCode | null = null;
  message: string | undefined = undefined;
  httpStatus: number | undefined = undefined;
  answer: Buffer = EMPTY;
  /** The backend's directives; applied only when the answer is not an error. */
  directives: Directives | null = null;
  /** The backend's HTTP status (0 when it did not answer, or the request was not forwarded). */
  backendStatus = 0;
  result: RequestResult = 'success';

  constructor(
    readonly session: Session,
    readonly notify: boolean,
    readonly cmd: number,
    readonly seq: number,
    readonly body: Buffer,
    route: Route,
    /** performance.now() when its frame was handled: gateway_request_duration_seconds starts here. */
    readonly startedAt: number,
  ) {
    this.target = route.target;
    this.label = route.label;
  }

  /** Answers with a gateway status; `result` is how it is counted. */
  fail(status: StatusCode, result: RequestResult, message?: string, httpStatus?: number): void {
    this.status = status;
    this.error = status;
    this.result = result;
    this.message = message;
    this.httpStatus = httpStatus;
  }
}
