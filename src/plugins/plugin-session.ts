import type { Session } from '../session/session.js';
import type { PluginSession } from './plugin-context.js';

/** A live view of a Session for plugins: reads through, so `playerId` is always current. */
export class PluginSessionView implements PluginSession {
  constructor(private readonly session: Session) {}

  get id(): string {
    return this.session.id;
  }

  get playerId(): string | null {
    return this.session.playerId;
  }

  get remoteAddress(): string {
    return this.session.remoteAddress;
  }

  get state(): Map<string, unknown> {
    return this.session.data;
  }
}
