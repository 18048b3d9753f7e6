import { Writable } from 'node:stream';
import type { GatewayConfigInput } from '../../src/config/schema.js';
import { Gateway } from '../../src/gateway.js';
import { createLogger } from '../../src/logger.js';
import { Cmd } from './cmds.js';

/** Log lines of an in-process gateway (or engine node), kept for assertions; also written to `echo`, if any. */
export class LogCapture extends Writable {
  readonly lines: Array<{ msg: string; [field: string]: unknown }> = [];
  constructor(private readonly echo?: NodeJS.WritableStream) {
    super();
  }
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line) this.lines.push(JSON.parse(line));
    this.echo?.write(chunk);
    done();
  }
}

export interface Running {
  gateway: Gateway;
  tcpPort: number;
  apiUrl: string;
  logs: LogCapture;
}

/** Starts an in-process gateway on free ports, with `backendUrl` as target `game` for every cmd. */
export async function startGateway(
  backendUrl: string | null,
  overrides: Partial<GatewayConfigInput> = {},
  level = 'debug',
): Promise<Running> {
  const base: GatewayConfigInput = {
    node: { id: 'test-node' },
    listen: { tcp: '127.0.0.1:0', api: '127.0.0.1:0' },
    targets: backendUrl ? { game: { url: `${backendUrl}/rpc/{cmd}`, timeoutMs: 1_000 } } : {},
    routes: backendUrl ? [{ cmds: '1-999999', target: 'game' }] : [],
    auth: {
      required: true,
      anonymousCmds: [
        Cmd.LOGIN,
        Cmd.ECHO,
        Cmd.ECHO_STATUS,
        Cmd.ECHO_CLOSE,
        Cmd.SLEEP,
        Cmd.SIZED,
        Cmd.HANG_UP,
        Cmd.HTTP_401,
        Cmd.HTTP_403,
        Cmd.HTTP_404,
        Cmd.HTTP_418,
        Cmd.HTTP_500,
        Cmd.HTTP_502,
        Cmd.HTTP_503,
      ],
    },
  };
  const config = { ...base, ...overrides } as GatewayConfigInput;
  const logs = new LogCapture();
  const gateway = new Gateway({ config, logger: createLogger(level, logs) });
  const bound = await gateway.start();
  return {
    gateway,
    tcpPort: Number(bound.tcp!.split(':').pop()),
    apiUrl: `http://${bound.api}`,
    logs,
  };
}
