/**
 * Builds and runs the Go example backend (examples/go-backend) from Node: for
 * `npm run demo -- --backend go` and for the integration test. Needs the `go` tool;
 * the module has no dependency outside this repository, so the build never fetches.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const moduleDir = fileURLToPath(new URL('.', import.meta.url));

export const GO_INSTALL_HINT =
  'The Go backend needs the Go toolchain (Go 1.19 or newer), and `go` is not on PATH.\n' +
  'Install it, e.g. on Debian or Ubuntu: sudo apt-get install golang-go\n' +
  '(or from https://go.dev/dl/), then run again: npm run demo -- --backend go';

export function goInstalled(): boolean {
  return spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
}

/** `go build` of the example into `outDir`; returns the binary's path, throws with go's output. */
export function buildGoBackend(outDir: string): string {
  const binary = join(outDir, 'go-backend');
  const run = spawnSync('go', ['build', '-o', binary, '.'], {
    cwd: moduleDir,
    // GOPROXY=off: a missing module must fail the build at once, never reach for the network.
    env: { ...process.env, GOPROXY: 'off' },
    encoding: 'utf8',
  });
  if (run.status !== 0) throw new Error(`go build failed (${run.status}):\n${run.stderr}${run.stdout}`);
  return binary;
}

export interface GoBackend {
  port: number;
  child: ChildProcess;
  /** Every line the backend logged (its log package writes to stderr). */
  lines: string[];
  /** SIGTERM, then waits for the exit (the backend shuts down gracefully). */
  close(): Promise<void>;
}

export interface GoBackendOptions {
  port: number;
  /** The gateway's API base URL(s), comma-separated; omitted with etcdEndpoints: found in etcd. */
  gatewayApi?: string;
  token?: string;
  /** Register as service `game` in this etcd (and find the gateways there). */
  etcdEndpoints?: string;
  layout?: 'kratos' | 'go-zero';
  log?: (line: string) => void;
}

/** Starts the built backend and waits until it listens. */
export async function startGoBackend(binary: string, o: GoBackendOptions): Promise<GoBackend> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  env.PORT = String(o.port);
  if (o.gatewayApi) env.GATEWAY_API = o.gatewayApi;
  else delete env.GATEWAY_API;
  if (o.token) env.GATEWAY_API_TOKEN = o.token;
  if (o.etcdEndpoints) env.ETCD_ENDPOINTS = o.etcdEndpoints;
  if (o.layout) env.REGISTRY_LAYOUT = o.layout;
  const child = spawn(binary, [], { env, stdio: ['ignore', 'inherit', 'pipe'] });
  process.on('exit', () => child.kill('SIGKILL'));
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const input = createInterface({ input: child.stderr! });
    input.on('line', (line) => {
      lines.push(line);
      o.log?.(line);
      if (line.includes('go-backend listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`go-backend exited with ${code}:\n${lines.join('\n')}`)));
    child.once('error', reject);
  });
  return {
    port: o.port,
    child,
    lines,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        // 'close', not 'exit': its last log lines are read only once stderr is closed too.
        child.once('close', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** A free TCP port on 127.0.0.1, for a backend the gateway must know before it starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      server.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/**
 * For the demo: checks for `go` (printing how to install it and exiting 1 when it is
 * missing), builds, and picks the port; `start` runs it once the gateway's API is known.
 */
export async function prepareGoBackend(port: number): Promise<{
  port: number;
  start(gatewayApi: string, log: (line: string) => void): Promise<void>;
  close(): Promise<void>;
}> {
  if (!goInstalled()) {
    console.error(GO_INSTALL_HINT);
    process.exit(1);
  }
  const dir = mkdtempSync(join(tmpdir(), 'go-backend-'));
  const binary = buildGoBackend(dir);
  const chosen = port === 0 ? await freePort() : port;
  let running: GoBackend | null = null;
  return {
    port: chosen,
    start: async (gatewayApi, log) => {
      running = await startGoBackend(binary, { port: chosen, gatewayApi, log });
    },
    close: async () => {
      await running?.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
