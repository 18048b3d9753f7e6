/** Test plugin "local": commands answered in the gateway, pushes, groups, lifecycle hooks, a metric. */
import { definePlugin } from '../../src/index.js';

export default definePlugin<{ watcher?: string }>({
  name: 'local',
  setup(gw, options = {}) {
    const calls = gw.metrics.counter({
      name: 'gateway_local_calls_total',
      help: 'Calls of the test plugin "local".',
      labelNames: ['cmd'],
    });
    gw.handle(7000, (ctx) => {
      calls.inc({ cmd: '7000' });
      return { body: `hello ${ctx.session.playerId ?? 'anonymous'}: ${ctx.body.toString()} #${ctx.seq}` };
    });
    // A range, async, with an application status.
    gw.handle('7010-7019', async (ctx) => {
      await new Promise((r) => setTimeout(r, 5));
      return { status: 1000 + ctx.cmd - 7010, body: new Uint8Array([1, 2, 3]) };
    });
    gw.handle(7020, () => ({ status: 'BACKEND_REJECTED', message: 'not today' }));
    gw.handle(7021, () => {});
    // Per-session state.
    gw.handle(7030, (ctx) => {
      const n = ((ctx.session.state.get('local:count') as number | undefined) ?? 0) + 1;
      ctx.session.state.set('local:count', n);
      return { body: String(n) };
    });
    // Push to self, and to a group the player joins.
    gw.handle(7040, async (ctx) => {
      const [result] = await gw.push(ctx.session.playerId!, 55, 'pushed by local');
      return { body: result };
    });
    gw.handle(7041, async (ctx) => {
      await gw.join('local:room', ctx.session.playerId!);
      return {
        body: String(await gw.groupPush('local:room', 56, `room hello from ${ctx.session.playerId}`)),
      };
    });
    gw.handle(7042, async (ctx) => {
      await gw.leave('local:room', [ctx.session.playerId!]);
      return {};
    });
    gw.addHook('onBind', async ({ playerId }) => {
      await gw.push(playerId, 77, `welcome ${playerId}`);
    });
    gw.addHook('onSessionClose', async ({ session }) => {
      if (
        options.watcher !== undefined &&
        session.playerId !== null &&
        session.playerId !== options.watcher
      ) {
        await gw.push(options.watcher, 78, `closed ${session.playerId}`, { offline: false });
      }
    });
    gw.addHook('onClose', () => {
      gw.log.info('local plugin closed');
    });
  },
});
