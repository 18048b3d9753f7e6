import { definePlugin } from '../../src/index.js';

export default definePlugin({
  name: 'bad-setup',
  async setup(gw) {
    gw.handle(7500, () => ({ body: 'never' }));
    await new Promise((r) => setTimeout(r, 1));
    throw new Error('database unreachable');
  },
});
