import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts `node --import tsx <args>` (plain `node` for dist/…) and resolves with the first stdout line that `pick` accepts. */
export async function start<T>(
  args: string[],
  pick: (line: string) => T | null,
  env: Record<string, string> = {},
): Promise<{ child: ChildProcess; value: T; lines: AsyncIterableIterator<string> }> {
  // PROFILE=<dir>: every started process writes a CPU profile there when it exits.
  const profile = process.env.PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE}`] : [];
  // Built code (dist/…js) runs as it would in production, without the TypeScript loader.
  const loader = args[0]?.startsWith('dist/') ? [] : ['--import', 'tsx'];
  const child = spawn(process.execPath, [...profile, ...loader, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const rl = createInterface({ input: child.stdout! });
  const lines = rl[Symbol.asyncIterator]();
  for await (const line of { [Symbol.asyncIterator]: () => lines }) {
    const value = pick(line);
    if (value !== null) return { child, value, lines };
  }
  throw new Error(`${args.join(' ')} ended before reporting`);
}

/**
 * Forks `file` with `role` as its argument (under tsx, with an IPC channel) and resolves
 * once it sends `{type: 'ready'}`. `spawned` sees the child at once, before it is ready,
 * so a watchdog can kill it.
 */
export function forkRole(
  file: string,
  role: string,
  spawned: (child: ChildProcess) => void = () => {},
): Promise<ChildProcess> {
  const child = fork(file, [role], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  spawned(child);
  return new Promise((resolve, reject) => {
    child.once('message', (m: { type?: unknown }) =>
      m.type === 'ready' ? resolve(child) : reject(new Error(String(m.type))),
    );
    child.once('exit', (code) => reject(new Error(`${role} exited with ${code}`)));
  });
}

/** Reads the next JSON line from a child's stdout. */
export async function nextJson<T>(lines: AsyncIterableIterator<string>): Promise<T> {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) throw new Error('child ended');
    try {
      return JSON.parse(value) as T;
    } catch {
      // not JSON: a log line; skip
    }
  }
}

/** CPU seconds (user + system) a process has used, from /proc (its own kernel accounting). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat; we cut the first two.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** SIGTERM, then SIGKILL after 15 s; resolves once it exited (at once if it already had, by code or signal). */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Counts frames by reading headers only; bodies are skipped, never copied. */
export class FrameCounter {
  private readonly header = Buffer.alloc(16);
  private filled = 0;
  private skip = 0;
  constructor(private readonly onFrame: (type: number, status: number) => void) {}
  push(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const n = Math.min(16 - this.filled, chunk.length - off);
      chunk.copy(this.header, this.filled, off, off + n);
      this.filled += n;
      off += n;
      if (this.filled === 16) {
        this.filled = 0;
        this.skip = this.header.readUInt32BE(0) - 12;
        this.onFrame(this.header[4], this.header.readUInt16BE(6));
      }
    }
  }
}
