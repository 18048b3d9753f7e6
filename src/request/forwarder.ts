import type { Logger } from 'pino';
import { type BackendCall, CallOutcome, CircuitOpenError, type Directives } from '../backend/backend-call.js';
import type { BackendClient } from '../backend/backend-client.js';
import type { BackendTarget } from '../backend/backend-target.js';
import { CmdSet } from '../config/cmd-set.js';
import type { GatewayConfig } from '../config/schema.js';
import type { GatewayMetrics, RequestCell, RequestResult } from '../metrics/metrics.js';
import type { Engine } from '../players/engine.js';
import { type PluginPipeline, PluginRequest } from '../plugins/plugin-pipeline.js';
import { FrameType } from '../protocol/frame.js';
import { Status, type StatusCode, statusRow } from '../protocol/status.js';
import type { Session } from '../session/session.js';
import { AdmittedRequest } from './admitted-request.js';
import type { RouteTable } from './route-table.js';

/**
 * The request path of SPEC §4, stage by stage (docs/lifecycle.md draws it):
 * in-flight limit → rate limit → auth gate → route → forward → response → directives.
 * A refusal before "forward" never touches a backend and is counted as `drop`. When a
 * plugin intercepts a request, the PluginPipeline runs its stages between the auth gate
 * and "forward" (and before the RESPONSE is written), and calls back forward/finish/settled.
 */
export class Forwarder {
  /** Requests received and not yet answered, all sessions. */
  inFlight = 0;
  /** Set by the gateway at start when a plugin registered a hook or a handler; null keeps the plain path. */
  plugins: PluginPipeline | null = null;
  private readonly anonymous: CmdSet;
  private readonly idPrefix: string;
  private nextRequestId = 0;
  private readonly debug: boolean;

  constructor(
    private readonly config: GatewayConfig,
    private readonly routes: RouteTable,
    private readonly backends: BackendClient,
    private readonly engine: Engine,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {
    this.anonymous = CmdSet.parse(config.auth.anonymousCmds ?? []);
    this.idPrefix = `${config.node.id}-${Date.now().toString(36)}-`;
    this.debug = log.isLevelEnabled('debug');
  }

  /** Entry point for every REQUEST and NOTIFY frame. Never throws. */
  handle(session: Session, type: number, cmd: number, seq: number, body: Buffer): void {
    const startedAt = performance.now();
    const now = Date.now();
    const notify = type === FrameType.NOTIFY;
    const targetName = this.routes.lookup(cmd);
    const plugins = this.plugins?.intercepts(cmd) ? this.plugins : null;
    const label = plugins === null ? (targetName ?? '') : plugins.label(cmd, targetName);
    const cell = this.metrics.requestCell(cmd, label);
    const playerLabel = this.playerLabel(session, now);

    let refusal: StatusCode | null = null;
    if (session.inFlight >= this.config.limits.maxInFlightPerSession) refusal = Status.TOO_MANY_IN_FLIGHT;
    else if (!session.takeToken(now)) refusal = Status.RATE_LIMITED;
    else if (this.config.auth.required && session.playerId === null && !this.anonymous.has(cmd)) {
      refusal = Status.NOT_AUTHENTICATED;
    } else if (targetName === null && plugins === null) refusal = Status.ROUTE_NOT_FOUND;
    if (refusal !== null) {
      this.metrics.error(statusRow(refusal).errorType!);
      if (!notify) session.sendError(cmd, seq, refusal);
      this.count(cell, cmd, playerLabel, label, 'drop', startedAt);
      return;
    }

    const requestId = this.idPrefix + (this.nextRequestId++).toString(36);
    session.inFlight++;
    this.inFlight++;
    this.engine.touch(session, now);
    if (plugins !== null) {
      plugins.run(session, notify, cmd, seq, body, targetName, requestId, playerLabel, startedAt);
      return;
    }
    const target = this.backends.targets.get(targetName!)!;
    this.forward(
      target,
      new AdmittedRequest(session, notify, cmd, seq, body, requestId, playerLabel, startedAt, cell),
    );
  }

  /** POSTs an admitted request to `target`; `req.cell` must be set. */
  forward(target: BackendTarget, req: AdmittedRequest): void {
    const session = req.client;
    this.backends.call(
      target,
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
      (call) => this.answer(call, req),
    );
  }

  /** Classifies the backend's answer (SPEC §4 table), counts backend errors, logs failures. */
  private answer(call: BackendCall, req: AdmittedRequest): void {
    const target = call.target.name;
    this.metrics.backendDuration.child(target).observe((call.finishedAt - call.startedAt) / 1000);

    let status: StatusCode | number = Status.OK;
    let httpStatus: number | undefined;
    if (call.outcome === CallOutcome.TIMEOUT) {
      status = Status.BACKEND_TIMEOUT;
      this.metrics.backendErrors.child(target, '0', 'timeout').inc();
    } else if (call.outcome === CallOutcome.UNAVAILABLE) {
      status = Status.BACKEND_UNAVAILABLE;
      const open = call.error instanceof CircuitOpenError;
      this.metrics.backendErrors.child(target, '0', open ? 'circuit_open' : 'connect_error').inc();
    } else if (call.statusCode < 200 || call.statusCode > 299) {
      httpStatus = call.statusCode;
      status =
        httpStatus === 401 || httpStatus === 403
          ? Status.AUTH_FAILED
          : httpStatus >= 400 && httpStatus < 500
            ? Status.BACKEND_REJECTED
            : Status.BACKEND_ERROR;
      this.metrics.backendErrors.child(target, String(httpStatus), 'http_error').inc();
    } else if (call.directives?.status != null) {
      status = appStatus(call.directives.status);
    }

    const failed = call.outcome !== CallOutcome.RESPONSE || httpStatus !== undefined;
    if (failed) {
      const row = statusRow(status as StatusCode);
      this.metrics.error(row.errorType!);
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
            sessionId: req.client.id,
            status: row.name,
            httpStatus,
            err: call.error?.message,
          },
          'backend call failed',
        );
      }
    } else if (this.debug) {
      this.log.debug(
        { requestId: req.requestId, target, cmd: req.cmd, sessionId: req.client.id, status },
        'forwarded',
      );
    }

    if (req instanceof PluginRequest && this.plugins?.hasResponseHooks) {
      this.plugins.responded(req, call, status, httpStatus, failed);
      return;
    }
    this.finish(call, req, status, httpStatus, failed);
  }

  /** Writes a forwarded request's RESPONSE, counts it, then applies the backend's directives. */
  finish(
    call: BackendCall,
    req: AdmittedRequest,
    status: number,
    httpStatus: number | undefined,
    failed: boolean,
  ): void {
    const session = req.client;
    session.inFlight--;
    this.inFlight--;
    const target = call.target.name;
    let result: RequestResult = failed ? 'error' : 'success';
    if (!req.notify) {
      const sent = failed
        ? session.sendError(
            req.cmd,
            req.seq,
            status as StatusCode,
            httpStatus === undefined ? undefined : `backend ${target} answered HTTP ${httpStatus}`,
            httpStatus,
          )
        : session.sendParts(FrameType.RESPONSE, status, req.cmd, req.seq, call.body);
      if (!sent) {
        result = 'error';
        this.metrics.error('send_failed');
      }
    }
    this.count(req.cell!, req.cmd, req.playerLabel, target, result, req.startedAt);
    if (!failed && call.directives !== null) this.apply(call.directives, session, req.requestId);
  }

  /** Ends a request the plugin path answered itself (its frame already queued): in flight and metrics. */
  settled(req: AdmittedRequest, label: string, result: RequestResult): void {
    req.client.inFlight--;
    this.inFlight--;
    this.count(
      this.metrics.requestCell(req.cmd, label),
      req.cmd,
      req.playerLabel,
      label,
      result,
      req.startedAt,
    );
  }

  /** Applies a 2xx response's directives, after its RESPONSE was queued (SPEC §4). */
  private apply(d: Directives, session: Session, requestId: string): void {
    const run = async (): Promise<void> => {
      if (d.bind) await this.engine.bind(session, d.bind.trim());
      else if (d.unbind) await this.engine.unbind(session);
      const player = session.playerId;
      if (player !== null) {
        if (d.join) for (const g of groupList(d.join)) await this.engine.join(g, [player]);
        if (d.leave) for (const g of groupList(d.leave)) await this.engine.leave(g, [player]);
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

  private playerLabel(session: Session, now: number): string {
    const mode = this.config.metrics.playerIdLabel;
    if (mode === 'none' || session.playerId === null) return '';
    if (mode === 'all') return session.playerId;
    return session.countRequest(now) > this.config.metrics.suspectRequestsPerMinute ? session.playerId : '';
  }

  private count(
    cell: RequestCell,
    cmd: number,
    playerLabel: string,
    target: string,
    result: RequestResult,
    startedAt: number,
  ): void {
    cell.duration.observe((performance.now() - startedAt) / 1000);
    if (playerLabel === '') cell[result].value++;
    else this.metrics.countPlayerRequest(cmd, playerLabel, target, result);
  }
}

/** x-gateway-status: an application code 1000–65535 replaces status 0; anything else is ignored. */
function appStatus(value: string): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1000 && n <= 65535 ? n : Status.OK;
}

function groupList(value: string): string[] {
  return value
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g.length > 0);
}
