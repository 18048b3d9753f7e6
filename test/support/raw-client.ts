import { connect, type Socket } from 'node:net';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { RawPeer } from './raw-peer.js';

export { json } from './raw-peer.js';

/**
 * A bare TCP client for tests: writes raw bytes or frames, decodes what comes back,
 * and lets a test await the next frame of a kind. Nothing here is clever on purpose.
 */
export class RawClient extends RawPeer {
  private constructor(readonly socket: Socket) {
    super();
    const decoder = new FrameDecoder(64 * 1024 * 1024, (type, status, cmd, seq, body) =>
      this.deliver({ type, flags: 0, status, cmd, seq, body: Buffer.from(body) }),
    );
    socket.on('data', (chunk) => decoder.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.closedNow());
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    await client.readHello();
    return client;
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}
