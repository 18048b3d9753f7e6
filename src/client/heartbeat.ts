import { unref } from './socket.js';

/**
 * One connection's heartbeat, both directions: sends a PING whenever the client has sent
 * nothing for `intervalMs` (so an idle, healthy client is never kicked IDLE_TIMEOUT), and
 * calls `dead` when nothing came from the gateway for `deadAfterMs` (0: never), not
 * counting a time this process itself was stalled. The client reports traffic with
 * `sent()` / `received()`; timers are unref'd, so a heartbeat never keeps a process alive.
 */
export class Heartbeat {
  private lastSentAt = Date.now();
  private lastReceivedAt = Date.now();
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the timer is due (a tick much later than that: this process was stalled). */
  private dueAt = 0;
  private running = false;

  constructor(
    private readonly intervalMs: number,
    private readonly deadAfterMs: number,
    private readonly ping: () => void,
    private readonly dead: (silentMs: number) => void,
  ) {}

  start(): void {
    if (!(this.intervalMs > 0)) return;
    this.running = true;
    this.schedule(this.intervalMs);
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  sent(): void {
    this.lastSentAt = Date.now();
  }

  received(): void {
    this.lastReceivedAt = Date.now();
  }

  private schedule(ms: number): void {
    this.dueAt = Date.now() + ms;
    this.timer = setTimeout(() => this.tick(), ms);
    unref(this.timer);
  }

  private tick(): void {
    this.timer = null;
    if (!this.running) return;
    const now = Date.now();
    // A tick late by more than an interval: this process was stalled (a long GC pause, a
    // blocked event loop, a frozen VM) and sent no PING meanwhile. That silence is ours, not
    // the gateway's: it does not count towards deadAfterMs.
    const stalledMs = now - this.dueAt;
    if (stalledMs > this.intervalMs) this.lastReceivedAt = Math.min(now, this.lastReceivedAt + stalledMs);
    if (this.deadAfterMs > 0 && now - this.lastReceivedAt >= this.deadAfterMs) {
      this.dead(this.deadAfterMs);
      return;
    }
    if (now - this.lastSentAt >= this.intervalMs) this.ping(); // ping() reports sent()
    if (this.running) this.schedule(Math.max(1, this.lastSentAt + this.intervalMs - Date.now()));
  }
}
