/**
 * Test plugins that write what they see into `session.state.trace`, so a test can read the
 * order of hooks back through a real socket (cmd TRACE_CMD answers the trace as JSON).
 * first.ts and second.ts are two instances under different names.
 */
import { definePlugin, type Plugin, type RequestContext } from '../../src/index.js';

/** Never traced; answered by the tracer with `answersTrace`: the session's trace, then cleared. */
export const TRACE_CMD = 7900;

export interface TracerOptions {
  answersTrace?: boolean;
  /** onRequest replies to this cmd itself (later hooks must not run). */
  replyOn?: number;
  /** onRequest sends this cmd to another target. */
  route?: { cmd: number; target: string };
}

function trace(ctx: { session: { state: Map<string, unknown> } }, entry: string): void {
  const list = (ctx.session.state.get('trace') as string[] | undefined) ?? [];
  list.push(entry);
  ctx.session.state.set('trace', list);
}

export function makeTracer(name: string): Plugin<TracerOptions> {
  return definePlugin<TracerOptions>({
    name,
    setup(gw, options = {}) {
      const skip = (ctx: RequestContext) => ctx.cmd === TRACE_CMD;
      gw.addHook('onRequest', (ctx) => {
        if (skip(ctx)) return;
        trace(ctx, `${name}:req1:${ctx.cmd}`);
        if (ctx.cmd === options.replyOn) return { body: `${name} replied` };
        if (ctx.cmd === options.route?.cmd) ctx.target = options.route.target;
      });
      // An async hook: the next one must wait for it.
      gw.addHook('onRequest', async (ctx) => {
        if (skip(ctx)) return;
        await new Promise((r) => setTimeout(r, 5));
        trace(ctx, `${name}:req2:${ctx.cmd}`);
      });
      gw.addHook('onResponse', async (ctx) => {
        await new Promise((r) => setTimeout(r, 5));
        trace(ctx.request, `${name}:res:${ctx.request.cmd}:${ctx.target}:${ctx.status}`);
      });
      if (options.answersTrace) {
        gw.handle(TRACE_CMD, (ctx) => {
          const list = ctx.session.state.get('trace') ?? [];
          ctx.session.state.delete('trace');
          return { body: JSON.stringify(list) };
        });
      }
    },
  });
}
