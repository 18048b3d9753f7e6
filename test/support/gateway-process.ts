/**
 * Real gateway processes for the cluster tests: `node --import tsx src/cli.ts --config
 * <tmp yaml>` on fixed free ports (so a node can be restarted where it was), with the
 * test backend as target `game` for every cmd. Log lines are kept for assertions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Cmd } from './cmds.js';
import { freePort } from './redis-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gw-cluster-'));
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export interface NodeOptions {
  nodeId: string;
  redisUrl: string;
  keyPrefix: string;
  backendUrl: string;
  /** Merged over the generated config (top-level keys replace). */
  extra?: Record<string, unknown>;
  /** Passed as --workers N. */
  workers?: number;
  /** listen.metrics on this port (with --workers, the primary's summed metrics). */
  metricsPort?: number;
}

export class GatewayProcess {
  child: ChildProcess | null = null;
  readonly logs: Array<Record<string, unknown>> = [];
  stderr = '';
  private readonly configPath: string;

  private constructor(
    readonly options: NodeOptions,
    readonly tcpPort: number,
    readonly apiPort: number,
  ) {
    const config = {
      node: { id: options.nodeId },
      listen: {
        tcp: `127.0.0.1:${tcpPort}`,
        api: `127.0.0.1:${apiPort}`,
        ...(options.metricsPort === undefined ? {} : { metrics: `127.0.0.1:${options.metricsPort}` }),
      },
      targets: { game: { url: `${options.backendUrl}/rpc/{cmd}`, timeoutMs: 2_000 } },
      routes: [{ cmds: '1-999999', target: 'game' }],
      auth: { required: true, anonymousCmds: [Cmd.LOGIN, Cmd.ECHO] },
      players: { retainMs: 60_000 },
      cluster: {
        engine: 'redis',
        redis: { url: options.redisUrl, keyPrefix: options.keyPrefix, commandTimeoutMs: 2_000 },
      },
      shutdown: { drainMs: 500 },
      log: { level: 'info' },
      ...options.extra,
    };
    this.configPath = join(dir, `${options.nodeId}-${tcpPort}.yaml`);
    // JSON is YAML.
    writeFileSync(this.configPath, JSON.stringify(config, null, 2));
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  /** Starts a node on fresh ports and waits until it (every worker) listens. */
  static async start(options: NodeOptions): Promise<GatewayProcess> {
    for (let attempt = 1; ; attempt++) {
      const node = new GatewayProcess(options, await freePort(), await freePort());
      try {
        await node.restart();
        return node;
      } catch (err) {
        // A free port can be taken by another test between freePort() and the bind: pick others.
        if (attempt === 3 || !String(err).includes('address already in use')) throw err;
      }
    }
  }

  /** Starts the process (again, on the same ports) and waits for "gateway listening". */
  async restart(): Promise<void> {
    const args = ['--import', 'tsx', 'src/cli.ts', '--config', this.configPath];
    if (this.options.workers !== undefined) args.push('--workers', String(this.options.workers));
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    running.add(child);
    child.on('exit', () => running.delete(child));
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    const expected = this.options.workers ?? 1;
    let listening = 0;
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          this.logs.push(entry);
          if (entry.msg === 'gateway listening' && ++listening === expected) resolve();
        } catch {
          // not a log line
        }
      });
      child.once('exit', (code) =>
        reject(new Error(`${this.options.nodeId} exited with ${code} before listening: ${this.stderr}`)),
      );
    });
  }

  /** Sends `signal` and waits for the exit; resolves with the exit code (null after a signal). */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      return Promise.resolve(child?.exitCode ?? null);
    }
    return new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill(signal);
    });
  }

  /** The node's API: JSON in and out. */
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are checked field by field in the tests.
  async api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.apiUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
  }

  /** POST /v1/push of one message to `players`; answers the per-player results. */
  async push(players: string[], data: string, offline = true): Promise<Record<string, string>> {
    const r = await this.api('POST', '/v1/push', {
      players,
      cmd: 5,
      data: Buffer.from(data).toString('base64'),
      offline,
    });
    if (r.status !== 200) throw new Error(`push answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body.results;
  }

  async ready(): Promise<number> {
    return (await fetch(`${this.apiUrl}/readyz`)).status;
  }
}
