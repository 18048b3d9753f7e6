import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { GatewayConfig } from '../config/schema.js';
import type { ListenerTls } from '../transport/listener-tls.js';

/**
 * What bounds an HTTP listener of the gateway (the API and `listen.metrics`), so that no
 * client of it can hold file descriptors, memory or the event loop that players need.
 */
export interface HttpLimits {
  /** Connections open at once; more are closed at accept (and counted). */
  maxConnections: number;
  /** Headers not all in by then: 408 and close. */
  headersTimeoutMs: number;
  /** A whole request (headers and body) not in by then: 408 and close; also the most an answer may take to be written. */
  requestTimeoutMs: number;
  /** After a refusal that closes: read and discard for at most this long… */
  lingerMs: number;
  /** …and at most this many bytes, then close. */
  lingerBytes: number;
}

/**
 * Requests a connection may have waiting behind the one being answered. Clients that
 * pipeline more without reading the answers (5 000 `GET /metrics` in one write) are
 * disconnected: answering them would buffer one answer each.
 */
export const MAX_PIPELINED_REQUESTS = 16;

/** How often Node checks the header and request timeouts (its default is 30 s). */
const TIMEOUT_CHECK_MS = 500;

/** Idle keep-alive of API connections: above the 60 s of common load balancers. */
const KEEP_ALIVE_MS = 65_000;

export const httpLimits = (api: GatewayConfig['api']): HttpLimits => ({
  maxConnections: api.maxConnections,
  headersTimeoutMs: api.headersTimeoutMs,
  requestTimeoutMs: api.requestTimeoutMs,
  lingerMs: api.lingerMs,
  lingerBytes: api.lingerBytes,
});

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** Why a listener turned a client away without serving it (the `reason` of gateway_api_rejected_total). */
export type ConnectionRefusal = 'max_connections' | 'pipelined';

interface Queue {
  busy: boolean;
  waiting: Array<[IncomingMessage, ServerResponse]>;
}

/**
 * An HTTP server that answers the requests of one connection one at a time (the next is
 * not started before the previous answer is written, so a client that does not read
 * stalls only itself), holds at most MAX_PIPELINED_REQUESTS waiting per connection, caps
 * connections, and times out slow headers and slow requests. With `tls`: https.
 */
export function createLimitedServer(
  limits: HttpLimits,
  handler: Handler,
  refused: (reason: ConnectionRefusal) => void,
  tls: ListenerTls | null = null,
): Server {
  const queues = new WeakMap<Socket, Queue>();
  const run = (queue: Queue, req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    queue.busy = true;
    let stall: NodeJS.Timeout | undefined;
    let done = false;
    const next = (): void => {
      if (done) return;
      done = true;
      clearTimeout(stall);
      queue.busy = false;
      if (socket.destroyed || closing.has(socket)) {
        queue.waiting.length = 0;
        return;
      }
      const waiting = queue.waiting.shift();
      if (waiting !== undefined) run(queue, ...waiting);
    };
    // 'close' ends every response, finished or not (after 'finish', when it was written).
    res.on('close', next);
    const settled = (): void => {
      // An answer the client does not read may not hold the connection for ever.
      if (!done) stall = setTimeout(() => socket.destroy(), limits.requestTimeoutMs).unref();
    };
    handler(req, res).then(settled, () => {
      res.destroy();
      settled();
    });
  };
  const server = httpOrHttps(
    tls,
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_MS,
      keepAliveTimeout: KEEP_ALIVE_MS,
    },
    (req, res) => {
      const socket = req.socket;
      // Pipelined behind a refusal: never answered, the connection is closing.
      if (closing.has(socket)) {
        req.resume();
        return;
      }
      let queue = queues.get(socket);
      if (queue === undefined) {
        queue = { busy: false, waiting: [] };
        queues.set(socket, queue);
      }
      if (!queue.busy) return run(queue, req, res);
      if (queue.waiting.length >= MAX_PIPELINED_REQUESTS) {
        if (!socket.destroyed) refused('pipelined');
        queue.waiting.length = 0;
        socket.destroy();
        stopParsing(socket);
        return;
      }
      queue.waiting.push([req, res]);
    },
  );
  server.maxConnections = limits.maxConnections;
  server.on('drop', () => refused('max_connections'));
  return server;
}

/** An http server, or an https one made through the listeners' TLS (listen.tls). */
function httpOrHttps(tls: ListenerTls | null, options: ServerOptions, listener: RequestListener): Server {
  if (tls === null) return createServer(options, listener);
  return tls.serve((secure) => createHttpsServer({ ...options, ...secure }, listener)) as unknown as Server;
}

/**
 * Node's parser would go on making a request of every head left in the read (thousands,
 * each an IncomingMessage and a ServerResponse, on the event loop players share): its
 * headers-complete callback answering -1 ends the parse there, as a parse error on a
 * socket already destroyed. Without that internal (another Node) the flood is only slower.
 */
function stopParsing(socket: Socket): void {
  const parser = (socket as Socket & { parser?: { onIncoming?: unknown } | null }).parser;
  if (parser !== null && parser !== undefined && typeof parser.onIncoming === 'function') {
    parser.onIncoming = () => -1;
  }
}

/** Sockets in their lingering close: nothing more is read as requests. */
const closing = new WeakSet<Socket>();

/**
 * Call before writing a refusal (401, 413) whose request body is not read: the answer
 * goes out with `connection: close`, then the socket is half-closed and what the client
 * still sends is read and discarded for at most `lingerMs` and `lingerBytes`, then the
 * socket is destroyed. Closing at once would make the kernel answer the unread bytes
 * with a reset, and a reset can destroy the answer in the client's receive buffer before
 * the client reads it (NGINX's lingering_close solves the same).
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse, limits: HttpLimits): void {
  const socket = req.socket;
  res.setHeader('connection', 'close');
  // Requests pipelined behind this one are not served: the next head ends the parse.
  stopParsing(socket);
  // A request read whole leaves nothing to discard: Node's own close is enough.
  if (req.complete || closing.has(socket)) return;
  closing.add(socket);
  // Node ends a `connection: close` exchange with socket.destroySoon() once the answer
  // is flushed; linger instead.
  socket.destroySoon = () => linger(socket, req, limits);
}

function linger(socket: Socket, req: IncomingMessage, limits: HttpLimits): void {
  if (socket.destroyed) return;
  const start = socket.bytesRead;
  const close = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(close, limits.lingerMs).unref();
  socket.once('close', () => clearTimeout(timer));
  socket.once('end', close);
  socket.on('error', () => {});
  // Node's parser goes on reading the refused body into `req`; it is discarded here.
  req.removeAllListeners('data');
  req.on('data', () => {
    if (socket.bytesRead - start > limits.lingerBytes) close();
  });
  req.resume();
  socket.end();
}

/**
 * Stops a listener: no new connections, and the open ones closed now (a client's
 * keep-alive connection would otherwise hold close() open until it idles out).
 */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
