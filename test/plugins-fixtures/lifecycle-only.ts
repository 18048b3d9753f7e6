/** Test plugin with lifecycle hooks only: the request path must stay the plain one. */
import { definePlugin } from '../../src/index.js';

export default definePlugin({
  name: 'lifecycle-only',
  setup(gw) {
    gw.addHook('onBind', ({ playerId }) => gw.push(playerId, 90, `bound ${playerId}`).then(() => {}));
  },
});
