import type { ClientRequest } from '../request/client-request.js';
import type { RequestContext } from './plugin-context.js';
import { PluginSessionView } from './plugin-session.js';

/**
 * A request as hooks and handlers see it: reads through to the ClientRequest, and
 * `target` writes through. Made only for requests the plugin stage takes.
 */
export class PluginRequest implements RequestContext {
  readonly session: PluginSessionView;

  constructor(readonly req: ClientRequest) {
    this.session = new PluginSessionView(req.session);
  }

  get cmd(): number {
    return this.req.cmd;
  }

  get seq(): number {
    return this.req.seq;
  }

  get kind(): 'request' | 'notify' {
    return this.req.notify ? 'notify' : 'request';
  }

  get body(): Buffer {
    return this.req.body;
  }

  get requestId(): string {
    return this.req.requestId;
  }

  get target(): string | null {
    return this.req.target;
  }

  set target(value: string | null) {
    this.req.target = value;
  }
}
