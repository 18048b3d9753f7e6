// @ts-check
/**
 * Example plugin "server-time": answers one cmd in the gateway with the gateway's clock,
 * so clients can sync timers without a round trip to a backend. Plain JavaScript (ESM), so
 * the built gateway loads it by path with no build step:
 *
 *   plugins:
 *     - module: ./plugins/server-time.js     # relative to the config file
 *       options: { cmd: 9000, anonymous: true }
 *
 * Answer body: UTF-8 JSON {"now": <ms since epoch>, "iso": "...", "node": "<node.id>"}.
 * The auth gate still applies: list the cmd in auth.anonymousCmds to serve it before login.
 */

/** @type {import('../../src/index.js').Plugin<{ cmd?: number } | undefined>} */
const serverTime = {
  name: 'server-time',
  setup(gw, options) {
    const cmd = options?.cmd ?? 9000;
    if (!Number.isInteger(cmd) || cmd < 0 || cmd > 0xffffffff) {
      throw new Error(`options.cmd: expected a u32 cmd, got ${JSON.stringify(options?.cmd)}`);
    }
    const node = gw.config.node.id;
    gw.handle(cmd, () => {
      const now = Date.now();
      return { body: JSON.stringify({ now, iso: new Date(now).toISOString(), node }) };
    });
    gw.log.info({ cmd }, 'server-time ready');
  },
};

export default serverTime;
