import type { PlayerInfo, PushResult } from './engine.js';

/**
 * What the push API and plugins may do with players, on whichever engine is configured
 * (the public face of Players; binding sessions stays the gateway's own business).
 */
export interface PlayerService {
  /** Per player, in order: `delivered` (written to its session, on any node), `cached` (known, offline, and `offline` true) or `dropped`. */
  push(players: readonly string[], cmd: number, body: Buffer, offline: boolean): Promise<PushResult[]>;
  /** One PUSH to every bound session on every node, the frame encoded once; returns deliveries. */
  broadcast(cmd: number, body: Buffer): Promise<number>;
  /** Pushes to the online members of `group`; returns deliveries. */
  groupPush(group: string, cmd: number, body: Buffer): Promise<number>;
  /** Adds known players to `group`; returns the member count after. */
  join(group: string, players: readonly string[]): Promise<number>;
  /** Removes players from `group`; returns the member count after. */
  leave(group: string, players: readonly string[]): Promise<number>;
  /** The members of `group`: known players, online or not. */
  members(group: string): Promise<string[]>;
  /** KICK KICKED with `reason` to these players' sessions; returns how many were online. */
  kick(players: readonly string[], reason: string): Promise<number>;
  /** What is known of a player, or null when unknown. */
  player(playerId: string): Promise<PlayerInfo | null>;
}
