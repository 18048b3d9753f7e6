import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { sleep } from './wait.js';

const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort(): Promise<number> {
  // The kernel may hand the port just closed out again: two calls in a row (a node's tcp
  // and api ports) once got the same one. A port this process was given is not given twice.
  for (;;) {
    const port = await boundPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

const handedOut = new Set<number>();

function boundPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A private redis-server for one test file, on a free port, without persistence. It can
 * be killed (SIGKILL: a crash) and started again on the same port, empty.
 */
export class RedisServer {
  private child: ChildProcess | null = null;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The running server's pid (for CPU accounting); undefined while it is down. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts a server on `port` (default: a free one). */
  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()));
    await server.restart();
    return server;
  }

  /** Starts redis-server on this port (again) and waits until it answers PING. */
  async restart(): Promise<void> {
    if (this.child !== null) return;
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.child = child;
    running.add(child);
    let failed: Error | null = null;
    child.on('error', (err) => {
      // Not installed (ENOENT): said plainly, instead of an unhandled error event.
      failed = new Error(`cannot start ${REDIS_SERVER} (${err.message}); install Debian's redis-server`);
      running.delete(child);
      if (this.child === child) this.child = null;
    });
    child.on('exit', () => {
      running.delete(child);
      if (this.child === child) this.child = null;
    });
    const until = Date.now() + 10_000;
    while (!(await this.ping())) {
      if (failed !== null) throw failed;
      if (this.child !== child) throw new Error(`redis-server on port ${this.port} exited at start`);
      if (Date.now() > until) throw new Error(`redis-server on port ${this.port} did not answer`);
      await sleep(20);
    }
  }

  /** Kills the server at once (SIGKILL) and waits for it to be gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }

  stop(): Promise<void> {
    return this.kill();
  }

  /** Sends one inline command and resolves with the raw reply. */
  command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      let reply = '';
      socket.setTimeout(2_000, () => socket.destroy(new Error('timeout')));
      socket.once('error', reject);
      socket.connect(this.port, '127.0.0.1', () => socket.write(`${line}\r\n`));
      socket.on('data', (d) => {
        reply += d.toString('latin1');
        if (reply.endsWith('\r\n')) {
          socket.end();
          resolve(reply);
        }
      });
    });
  }

  private async ping(): Promise<boolean> {
    try {
      return (await this.command('PING')).startsWith('+PONG');
    } catch {
      return false;
    }
  }
}
