import type { GatewayMetrics } from '../metrics/metrics.js';
import { FrameType } from '../protocol/frame.js';
import type { ClientRequest } from './client-request.js';
import type { RequestSlots } from './request-slots.js';

/**
 * The one place a request ends, whichever stage answered it: releases its in-flight
 * slot, writes its RESPONSE (none for a NOTIFY), and counts it in gateway_requests_total
 * and gateway_request_duration_seconds.
 */
export class RequestFinisher {
  constructor(
    private readonly slots: RequestSlots,
    private readonly metrics: GatewayMetrics,
  ) {}

  readonly finish = (req: ClientRequest): void => {
    if (req.budget !== null) {
      this.slots.release(req.budget);
      req.budget = null;
    }
    const { session } = req;
    let result = req.result;
    if (!req.notify) {
      const sent =
        req.error !== null
          ? session.sendError(req.cmd, req.seq, req.error, req.message, req.httpStatus)
          : session.sendParts(FrameType.RESPONSE, req.status, req.cmd, req.seq, req.answer);
      if (!sent) {
        result = 'error';
        this.metrics.error('send_failed');
      }
    }
    const cell = this.metrics.requestCell(req.cmd, req.label);
    cell.duration.observe((performance.now() - req.startedAt) / 1000);
    if (req.playerLabel === '') cell[result].value++;
    else this.metrics.countPlayerRequest(req.cmd, req.playerLabel, req.label, result);
  };
}
