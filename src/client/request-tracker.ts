import type { WireFrame } from './codec.js';
import { ClientStatus, GatewayError } from './errors.js';
import { Response } from './response.js';

interface Pending {
  resolve: (response: Response) => void;
  reject: (error: GatewayError) => void;
  timer: ReturnType<typeof setTimeout> | null;
}

const MAX_SEQ = 0xffff_ffff;

/**
 * Requests in flight on one client, by seq: hands out seqs (1 … 2³²−1, wrapping, never
 * one still in flight), times requests out, and settles each exactly once — by its
 * RESPONSE, its timeout, or `rejectAll` when the connection ends. A RESPONSE for a seq no
 * longer tracked (timed out) is dropped.
 */
export class RequestTracker {
  private readonly pending = new Map<number, Pending>();
  private nextSeq = 0;

  get size(): number {
    return this.pending.size;
  }

  /** The next seq for any frame the client sends (REQUEST, NOTIFY, PING). */
  takeSeq(): number {
    do this.nextSeq = this.nextSeq >= MAX_SEQ ? 1 : this.nextSeq + 1;
    while (this.pending.has(this.nextSeq));
    return this.nextSeq;
  }

  /** Tracks the REQUEST sent with `seq`; rejects with REQUEST_TIMEOUT after `timeoutMs` (0: never). */
  track(seq: number, cmd: number, timeoutMs: number): Promise<Response> {
    return new Promise<Response>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | null = null;
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.pending.delete(seq);
          reject(
            new GatewayError(
              ClientStatus.REQUEST_TIMEOUT,
              `no RESPONSE to cmd ${cmd} within ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
      }
      this.pending.set(seq, { resolve, reject, timer });
    });
  }

  /** Settles the request a RESPONSE frame answers; false when none waits for it. */
  answer(frame: WireFrame): boolean {
    const pending = this.pending.get(frame.seq);
    if (pending === undefined) return false;
    this.pending.delete(frame.seq);
    if (pending.timer !== null) clearTimeout(pending.timer);
    pending.resolve(new Response(frame.cmd, frame.seq, frame.status, frame.body));
    return true;
  }

  /** Rejects every request in flight with `error` (the connection ended, or close()). */
  rejectAll(error: GatewayError): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.reject(error);
    }
  }
}
