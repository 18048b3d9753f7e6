import { type Directives, NO_DIRECTIVES } from '../backend/backend-call.js';
import type { ClientRequest } from '../request/client-request.js';
import type { ResponseContext } from './plugin-context.js';
import type { PluginRequest } from './plugin-request.js';

/** A forwarded request's answer as onResponse hooks see it, before the client does. */
export class PluginResponse implements ResponseContext {
  private readonly req: ClientRequest;

  constructor(readonly request: PluginRequest) {
    this.req = request.req;
  }

  get target(): string {
    return this.req.label;
  }

  get ok(): boolean {
    return this.req.error === null;
  }

  get status(): number {
    return this.req.status;
  }

  get httpStatus(): number {
    return this.req.backendStatus;
  }

  get body(): Buffer {
    return this.req.answer;
  }

  get directives(): Readonly<Directives> {
    return this.req.directives ?? NO_DIRECTIVES;
  }

  header(name: string): string | undefined {
    const d = this.req.directives;
    if (d === null) return undefined;
    const key = name.toLowerCase();
    switch (key) {
      case 'x-gateway-status':
        return d.status ?? undefined;
      case 'x-gateway-bind':
        return d.bind ?? undefined;
      case 'x-gateway-unbind':
        return d.unbind ?? undefined;
      case 'x-gateway-join':
        return d.join ?? undefined;
      case 'x-gateway-leave':
        return d.leave ?? undefined;
      case 'x-gateway-close':
        return d.close ?? undefined;
      default:
        return Object.hasOwn(d.extra, key) ? d.extra[key] : undefined;
    }
  }
}
