import { Status } from '../protocol/status.js';
import type { ClientRequest } from './client-request.js';

/** Hands a request (or its answer) to what comes next. */
export type Dispatch = (req: ClientRequest) => void;

/**
 * One stage of the request path (docs/architecture.md), in the shape of undici's
 * interceptors: it gets what comes next and never calls back into whoever built the
 * chain. A stage may define either half, or both.
 */
export interface Stage {
  readonly name: string;
  /**
   * Passes `req` on with `next`, or answers it: writes the answer fields and calls
   * `reply`, which takes the answer out through the stages before this one (this stage's
   * own `response` is skipped) to the finisher.
   */
  request?(req: ClientRequest, next: Dispatch, reply: Dispatch): void;
  /** Sees an answer coming back from the stages after this one; passes it on with `next`. */
  response?(req: ClientRequest, next: Dispatch): void;
}

/**
 * Builds the request path from `stages` (outermost first) and `finish`, once: the
 * functions are made here, so a request allocates nothing to travel through them.
 */
export function compose(stages: readonly Stage[], finish: Dispatch): Dispatch {
  // out[i]: an answer leaving stage i outward; back[i]: an answer arriving at stage i from inside.
  const out: Dispatch[] = new Array(stages.length);
  const back: Dispatch[] = new Array(stages.length);
  for (let i = 0; i < stages.length; i++) {
    const s = stages[i];
    out[i] = i === 0 ? finish : back[i - 1];
    const onward = out[i];
    back[i] = s.response ? (req) => s.response!(req, onward) : onward;
  }
  // Past the innermost stage nothing answers: a gateway bug, answered INTERNAL.
  const innermost = stages.length === 0 ? finish : back[stages.length - 1];
  let dispatch: Dispatch = (req) => {
    req.fail(Status.INTERNAL, 'error', 'no stage answered the request');
    innermost(req);
  };
  for (let i = stages.length - 1; i >= 0; i--) {
    const s = stages[i];
    const next = dispatch;
    const reply = out[i];
    if (s.request) dispatch = (req) => s.request!(req, next, reply);
  }
  return dispatch;
}
