/** Test plugin "thrower": fails in every way a plugin can, per cmd. */
import { definePlugin, type LocalReply, type PluginApi } from '../../src/index.js';

let api: PluginApi;

export default definePlugin({
  name: 'thrower',
  setup(gw) {
    api = gw;
    gw.handle(7100, () => {
      throw new Error('handler exploded');
    });
    gw.handle(7101, async () => {
      await new Promise((r) => setTimeout(r, 2));
      throw new Error('handler rejected');
    });
    gw.handle(7102, () => 'a string' as unknown as LocalReply);
    gw.handle(7103, () => ({ status: 7 }));
    // Registering after setup is refused.
    gw.handle(7104, () => {
      api.handle(7105, () => ({}));
    });
    gw.addHook('onRequest', (ctx) => {
      if (ctx.cmd === 7110) throw new Error('onRequest exploded');
      if (ctx.cmd === 7111) ctx.target = 'nope';
      if (ctx.cmd === 7112) return Promise.reject(new Error('onRequest rejected'));
    });
    gw.addHook('onResponse', (ctx) => {
      if (ctx.request.cmd === 7120) throw new Error('onResponse exploded');
    });
    gw.addHook('onBind', ({ playerId }) => {
      if (playerId === 'unlucky') throw new Error('onBind exploded');
    });
    gw.addHook('onSessionClose', async ({ session }) => {
      if (session.playerId === 'unlucky') throw new Error('onSessionClose rejected');
    });
  },
});
