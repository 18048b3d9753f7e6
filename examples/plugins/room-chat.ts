/**
 * Example plugin "room-chat" (the one docs/plugins.md walks through): chat rooms kept
 * entirely in the gateway, on top of groups. JOIN body = room name; SAY body = text, pushed
 * to everyone in the room as PUSH `pushCmd`. TypeScript: load it with the gateway run under
 * tsx, or compile it to .js first.
 */
import { definePlugin } from '../../src/index.js';

export default definePlugin<{ joinCmd: number; sayCmd: number; pushCmd: number }>({
  name: 'room-chat',
  setup(gw, { joinCmd, sayCmd, pushCmd }) {
    const said = gw.metrics.counter({
      name: 'gateway_room_chat_messages_total',
      help: 'Chat lines relayed.',
    });

    gw.handle(joinCmd, async ({ session, body }) => {
      const room = `room:${body.toString()}`;
      const old = session.state.get('room-chat:room') as string | undefined;
      if (old !== undefined) await gw.leave(old, session.playerId!);
      await gw.join(room, session.playerId!);
      session.state.set('room-chat:room', room);
      return { body: room };
    });

    gw.handle(sayCmd, async ({ session, body }) => {
      const room = session.state.get('room-chat:room') as string | undefined;
      if (room === undefined) return { status: 'ROUTE_NOT_FOUND', message: 'join a room first' };
      const delivered = await gw.groupPush(room, pushCmd, `${session.playerId}: ${body}`);
      said.inc();
      return { body: String(delivered) };
    });

    gw.addHook('onSessionClose', async ({ session }) => {
      const room = session.state.get('room-chat:room') as string | undefined;
      if (room !== undefined && session.playerId !== null) await gw.leave(room, session.playerId);
    });
  },
});
