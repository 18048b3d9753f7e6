import type { Logger } from 'pino';
import {
  type BackendCall,
  CallOutcome,
  CircuitOpenError,
  ResponseTooLargeError,
} from '../backend/backend-call.js';
import type { BackendClient } from '../backend/backend-client.js';
import type { GatewayMetrics } from '../metrics/metrics.js';
import { Status, type StatusCode, statusRow } from '../protocol/status.js';
import type { ClientRequest } from './client-request.js';
import type { Dispatch, Stage } from './stage.js';

/**
 * The innermost stage: POSTs the request to its target (SPEC §4) and classifies the
 * answer by the §4 table into the request's answer fields. No target: ROUTE_NOT_FOUND,
 * counted as `drop`. Backend errors are counted and logged here, once.
 */
export class ForwardStage implements Stage {
  readonly name = 'forward';
  private readonly debug: boolean;

  constructor(
    private readonly backends: BackendClient,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {
    this.debug = log.isLevelEnabled('debug');
  }

  request(req: ClientRequest, _next: Dispatch, reply: Dispatch): void {
    const target = req.target === null ? undefined : this.backends.targets.get(req.target);
    if (target === undefined) {
      this.metrics.error('route_not_found');
      req.label = '';
      req.fail(Status.ROUTE_NOT_FOUND, 'drop');
      reply(req);
      return;
    }
    req.label = target.name;
    const { session } = req;
    const endpoint = target.pick(session.playerId ?? session.id);
    if (endpoint === undefined) {
      // A discovered target with no instance registered: refused at once (SPEC §11).
      this.metrics.backendErrors.child(target.name, '0', 'no_instance').inc();
      this.metrics.error('backend_unavailable');
      req.fail(Status.BACKEND_UNAVAILABLE, 'error', `no instance of ${target.name} is registered`);
      reply(req);
      return;
    }
    req.forwarded = true;
    this.backends.call(
      endpoint,
      {
        cmd: req.cmd,
        seq: req.seq,
        kind: req.notify ? 'notify' : 'request',
        sessionId: session.id,
        playerId: session.playerId,
        clientIp: session.remoteAddress,
        requestId: req.requestId,
      },
      req.body,
      (call) => {
        this.classify(call, req);
        reply(req);
      },
    );
  }

  /** The SPEC §4 table: the backend's answer as the client's RESPONSE. */
  private classify(call: BackendCall, req: ClientRequest): void {
    const target = call.target.name;
    this.metrics.backendDuration.child(target).observe((call.finishedAt - call.startedAt) / 1000);
    // Kept whatever the outcome, for onResponse hooks; the RESPONSE uses them only on success.
    req.answer = call.body;
    req.directives = call.directives;
    req.backendStatus = call.outcome === CallOutcome.RESPONSE ? call.statusCode : 0;
    if (call.outcome === CallOutcome.TIMEOUT) {
      this.metrics.backendErrors.child(target, '0', 'timeout').inc();
      this.failed(req, call, Status.BACKEND_TIMEOUT);
    } else if (call.outcome === CallOutcome.BAD_RESPONSE) {
      const tooLarge = call.error instanceof ResponseTooLargeError;
      this.metrics.backendErrors.child(target, '0', tooLarge ? 'response_too_large' : 'bad_response').inc();
      this.failed(req, call, Status.BACKEND_ERROR, undefined, `backend ${target}: ${call.error?.message}`);
    } else if (call.outcome === CallOutcome.UNAVAILABLE) {
      const open = call.error instanceof CircuitOpenError;
      this.metrics.backendErrors.child(target, '0', open ? 'circuit_open' : 'connect_error').inc();
      this.failed(req, call, Status.BACKEND_UNAVAILABLE);
    } else if (call.statusCode < 200 || call.statusCode > 299) {
      const http = call.statusCode;
      this.metrics.backendErrors.child(target, String(http), 'http_error').inc();
      const status =
        http === 401 || http === 403
          ? Status.AUTH_FAILED
          : http >= 400 && http < 500
            ? Status.BACKEND_REJECTED
            : Status.BACKEND_ERROR;
      this.failed(req, call, status, http);
    } else {
      req.status = call.directives?.status == null ? Status.OK : appStatus(call.directives.status);
      if (this.debug) {
        this.log.debug(
          { requestId: req.requestId, target, cmd: req.cmd, sessionId: req.session.id, status: req.status },
          'forwarded',
        );
      }
    }
  }

  private failed(
    req: ClientRequest,
    call: BackendCall,
    status: StatusCode,
    httpStatus?: number,
    message = httpStatus === undefined
      ? undefined
      : `backend ${call.target.name} answered HTTP ${httpStatus}`,
  ): void {
    const target = call.target.name;
    const row = statusRow(status);
    this.metrics.error(row.errorType!);
    req.fail(status, 'error', message, httpStatus);
    // Timeouts, unreachable backends and 5xx are the operator's problem: error level.
    // A 4xx is the application saying no (a wrong password): debug only.
    // Refusals by an open circuit are logged once, when it opens (BackendClient).
    const serious =
      (call.outcome !== CallOutcome.RESPONSE && !(call.error instanceof CircuitOpenError)) ||
      (httpStatus ?? 0) >= 500;
    if (serious || this.debug) {
      this.log[serious ? 'error' : 'debug'](
        {
          requestId: req.requestId,
          target,
          cmd: req.cmd,
          sessionId: req.session.id,
          status: row.name,
          httpStatus,
          err: call.error?.message,
        },
        'backend call failed',
      );
    }
  }
}

/** Plain decimal digits only: `1e3`, `0x3e8` or `1000.0` are not a status. */
const DECIMAL_STATUS = /^[0-9]{4,5}$/;

/** x-gateway-status: an application code 1000–65535 replaces status 0; anything else is ignored. */
function appStatus(value: string): number {
  if (!DECIMAL_STATUS.test(value)) return Status.OK;
  const n = Number(value);
  return n >= 1000 && n <= 65535 ? n : Status.OK;
}
