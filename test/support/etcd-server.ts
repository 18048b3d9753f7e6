import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';
import { sleep } from './wait.js';

// Debian's etcd-server package (etcd 3.4); ETCD_SERVER to use another binary.
const ETCD_SERVER = process.env.ETCD_SERVER ?? '/usr/bin/etcd';
const running = new Set<ChildProcess>();
const dataDirs = new Set<string>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
});

/**
 * A private single-member etcd for one test file, on free client and peer ports (never
 * 2379/2380), its data in a temp dir. It can be killed (SIGKILL by pid: a crash) and
 * started again on the same ports, with its data or empty (a new cluster: revisions
 * and leases start over).
 */
export class EtcdServer {
  private child: ChildProcess | null = null;
  private dataDir: string;

  private constructor(
    readonly clientPort: number,
    readonly peerPort: number,
    private readonly extraArgs: readonly string[],
  ) {
    this.dataDir = EtcdServer.newDataDir();
  }

  /** The client URL, as registry.etcd.endpoints takes it. */
  get url(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** `args`: more etcd flags (e.g. `--auth-token-ttl 1`), kept for every restart. */
  static async start(args: readonly string[] = []): Promise<EtcdServer> {
    const server = new EtcdServer(await freePort(), await freePort(), args);
    await server.restart();
    return server;
  }

  /** Starts etcd (again) on the same ports and waits until /health says so; `empty` wipes its data first. */
  async restart(options: { empty?: boolean } = {}): Promise<void> {
    if (this.child !== null) return;
    if (options.empty) {
      rmSync(this.dataDir, { recursive: true, force: true });
      dataDirs.delete(this.dataDir);
      this.dataDir = EtcdServer.newDataDir();
    }
    const client = this.url;
    const peer = `http://127.0.0.1:${this.peerPort}`;
    const child = spawn(
      ETCD_SERVER,
      [
        '--name',
        'test',
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `test=${peer}`,
        '--log-level',
        'error',
        ...this.extraArgs,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    running.add(child);
    child.on('exit', () => {
      running.delete(child);
      if (this.child === child) this.child = null;
    });
    const until = Date.now() + 15_000;
    while (!(await this.healthy())) {
      if (this.child !== child) throw new Error(`etcd on port ${this.clientPort} exited at start`);
      if (Date.now() > until) throw new Error(`etcd on port ${this.clientPort} did not become healthy`);
      await sleep(50);
    }
  }

  /** Kills etcd by pid (SIGKILL) and waits for it to be gone; its data stays unless restarted empty. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }

  /** Kills etcd and removes its data dir. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dataDir, { recursive: true, force: true });
    dataDirs.delete(this.dataDir);
  }

  private static newDataDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'gw-etcd-'));
    dataDirs.add(dir);
    return dir;
  }

  private healthy(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request(`${this.url}/health`, { timeout: 1_000 }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => {
          body += d.toString();
        });
        res.on('end', () => resolve(res.statusCode === 200 && body.includes('"health":"true"')));
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }
}
