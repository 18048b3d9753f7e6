import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const children = new Set<ChildProcess>();

/** Runs a TypeScript file with tsx as a child process and waits for its first JSON line. */
export async function spawnScript<T>(
  file: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<{ child: ChildProcess; info: T }> {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<T>((resolve, reject) => {
    // The first line that parses as a JSON object is the report; other lines are chatter.
    const onLine = (line: string): void => {
      if (!line.startsWith('{')) return;
      lines.off('line', onLine);
      resolve(JSON.parse(line) as T);
    };
    lines.on('line', onLine);
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before reporting`)));
  });
  return { child, info };
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface TestBackend {
  url: string;
  port: number;
  stop(): Promise<void>;
  requests(): Promise<SeenRequest[]>;
  clear(): Promise<void>;
}

/** Starts a recording test backend (test/support/test-backend.ts by default) as a real process. */
export async function startBackend(
  script = 'test/support/test-backend.ts',
  env: Record<string, string> = {},
): Promise<TestBackend> {
  const { child, info } = await spawnScript<{ port: number }>(script, env);
  const url = `http://127.0.0.1:${info.port}`;
  return {
    url,
    port: info.port,
    stop: () => stopChild(child),
    requests: async () => (await (await fetch(`${url}/__requests`)).json()) as SeenRequest[],
    clear: async () => {
      await fetch(`${url}/__requests`, { method: 'DELETE' });
    },
  };
}

export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
