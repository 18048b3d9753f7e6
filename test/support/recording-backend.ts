import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/** The answer of a test backend to one POST; `body` is the whole request body. */
export type Answer = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void;

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Runs a test backend process: keeps every request's method, url, headers and body
 * (GET /__requests returns them, DELETE /__requests clears them), answers the rest with
 * `answer`, listens on PORT (default: a free port) and prints {"port": n} once listening.
 */
export function runRecordingBackend(answer: Answer): void {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url === '/__requests') {
        if (req.method === 'DELETE') seen.length = 0;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(seen));
        return;
      }
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: body.toString('latin1'),
      });
      answer(req, body, res);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    const a = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
