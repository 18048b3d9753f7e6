import type { Session } from '../session/session.js';

export type PushResult = 'delivered' | 'cached' | 'dropped';

/** What GET /v1/players/{id} answers. */
export interface PlayerInfo {
  playerId: string;
  online: boolean;
  node: string | null;
  sessionId: string | null;
  /** ISO 8601 time of the player's last request or binding. */
  lastActiveAt: string;
  offlineQueued: number;
  pushSeq: number;
}

export interface EngineCounts {
  online: number;
  offline: number;
  offlineMessages: number;
}

/** A player's binding began (online) or ended (offline); for lifecycle events and plugins. */
export type LifecycleListener = (event: 'online' | 'offline', playerId: string, session: Session) => void;

/**
 * Where players live and how messages reach them. The session layer talks only to this
 * interface; `local` (PlayerManager, in memory) is the default and a Redis engine can
 * stand in for it without touching sessions. Every method states its contract.
 */
export interface Engine {
  readonly name: 'local' | 'redis';
  /** True while the engine can reach its shared state (always, for local). Feeds /readyz. */
  readonly ready: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;

  /**
   * Makes `session` the holder of `playerId` under a new epoch, higher than any before.
   * An older session of the same player gets KICK REPLACED. A session bound to another
   * player is unbound from it first. The player's queued offline messages are written to
   * the session, oldest first, before any push accepted after this call.
   */
  bind(session: Session, playerId: string): Promise<void>;
  /**
   * Ends the binding `session` holds, if its epoch is still the player's current one; a
   * stale session (replaced by a newer login) changes nothing. The player stays known,
   * offline, for players.retainMs.
   */
  unbind(session: Session): Promise<void>;
  /** Notes activity of a bound player (for lastActiveAt). Cheap; called per request. */
  touch(session: Session, now: number): void;

  /**
   * Pushes to each player: `delivered` when written to its session, `cached` when the
   * player is known and offline (and `offline` is true), `dropped` otherwise. Results
   * are in the order of `players`. Each accepted message takes the player's next seq.
   */
  push(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]>;
  /** Writes one PUSH to every bound session; the frame is encoded once. Returns deliveries. */
  broadcast(cmd: number, body: Buffer): Promise<number>;
  /** Pushes to the online members of `group` (offline members get nothing). Returns deliveries. */
  groupPush(group: string, cmd: number, body: Buffer): Promise<number>;
  /** Adds known players to `group`; returns the member count after. */
  join(group: string, players: readonly string[]): Promise<number>;
  /** Removes players from `group`; returns the member count after. */
  leave(group: string, players: readonly string[]): Promise<number>;
  /** Kicks the sessions of these players with KICKED; returns how many were online. */
  kick(players: readonly string[], reason: string): Promise<number>;
  player(playerId: string): Promise<PlayerInfo | null>;
  counts(): EngineCounts;
}
