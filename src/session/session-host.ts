import type { GatewayMetrics } from '../metrics/metrics.js';
import type { Session } from './session.js';

/** Limits every session reads; one shared object, so a session carries only a pointer. */
export interface SessionLimits {
  readonly maxFrameBytes: number;
  readonly maxWriteBufferBytes: number;
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
}

/** What a session needs from the gateway around it (one instance shared by all sessions). */
export interface SessionHost {
  readonly limits: SessionLimits;
  readonly metrics: GatewayMetrics;
  /** A REQUEST or NOTIFY frame arrived. `body` is a view into the read it came in; it stays valid. */
  onRequest(session: Session, type: number, cmd: number, seq: number, body: Buffer): void;
  /** The connection is gone (after a KICK or not). Called exactly once. */
  onClosed(session: Session): void;
}
