import { decodeFrame, FrameError, FrameReader, type WireFrame } from './codec.js';

/**
 * One open connection to the gateway, frames in and out, whatever carries them. The
 * client above it owns sequencing, heartbeat and reconnects; this layer only moves frames.
 */
export interface FrameSocket {
  send(frame: Uint8Array): void;
  /** Bytes written and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** Closes after what is queued is sent. */
  close(): void;
  /** Closes now. */
  destroy(): void;
}

export interface FrameSocketEvents {
  frame(frame: WireFrame): void;
  /** Called once, when the connection is gone; `error` when it ended on a failure. */
  closed(error: Error | null): void;
}

/** The part of the WebSocket API the client uses: the browser's, Node 22's global, or the `ws` package. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (
  url: string,
  protocols?: string | string[],
  options?: object,
) => WebSocketLike;

export interface OpenOptions {
  /** A WebSocket implementation; default: the global one, else the `ws` package (Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Largest frame accepted from the gateway on tcp:// (a guard against a broken peer). */
  maxIncomingFrameBytes: number;
  /** Aborting it destroys the socket, opening or open. */
  signal?: AbortSignal;
}

/** How long close() waits for the peer before destroying the socket. */
const CLOSE_LINGER_MS = 1_000;

/** Opens `tcp://host:port` (Node only) or `ws(s)://host:port/path`; resolves once open. */
export function openSocket(url: URL, events: FrameSocketEvents, options: OpenOptions): Promise<FrameSocket> {
  switch (url.protocol) {
    case 'ws:':
    case 'wss:':
      return openWebSocket(url, events, options);
    case 'tcp:':
      return openTcp(url, events, options);
    default:
      return Promise.reject(new Error(`unsupported URL scheme "${url.protocol}" (use tcp:// or ws://)`));
  }
}

async function webSocketConstructor(given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (given !== undefined) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global !== undefined) return global;
  // Node before 22 has no global WebSocket; the gateway package depends on `ws` anyway.
  const ws = (await import('ws')) as unknown as { default: WebSocketConstructor };
  return ws.default;
}

async function openWebSocket(
  url: URL,
  events: FrameSocketEvents,
  options: OpenOptions,
): Promise<FrameSocket> {
  const Ctor = await webSocketConstructor(options.WebSocket);
  // The third argument is read by `ws` only (browsers ignore it): frames are binary and small.
  const ws = new Ctor(url.href, [], { perMessageDeflate: false });
  ws.binaryType = 'arraybuffer';
  let open = false;
  let closed = false;
  let failure: Error | null = null;
  const finish = () => {
    if (closed) return;
    closed = true;
    if (open) events.closed(failure);
  };
  const socket: FrameSocket = {
    send: (frame) => ws.send(frame),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    close: () => {
      ws.close(1000);
      unref(setTimeout(() => socket.destroy(), CLOSE_LINGER_MS));
    },
    destroy: () => {
      // The browser API has no terminate(); `ws` has. Either way the client is told now.
      const terminate = (ws as { terminate?: () => void }).terminate;
      if (terminate !== undefined) terminate.call(ws);
      else ws.close();
      finish();
    },
  };
  // Handlers go on before the socket opens: the first frame may arrive with the upgrade.
  ws.onmessage = (ev) => {
    if (closed) return;
    try {
      if (!(ev.data instanceof ArrayBuffer)) throw new FrameError('the gateway sent a text message');
      events.frame(decodeFrame(new Uint8Array(ev.data)));
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      failure = err;
      socket.destroy();
    }
  };
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => {
      open = true;
      resolve();
    };
    ws.onerror = (ev) => {
      // The `ws` package passes the socket's error (with its code, e.g. ECONNREFUSED); browsers pass none.
      const cause = (ev as { error?: unknown } | null)?.error;
      failure ??=
        cause instanceof Error
          ? new Error(`WebSocket connection to ${url.href} failed: ${cause.message}`, { cause })
          : new Error(`WebSocket connection to ${url.href} failed`);
    };
    ws.onclose = (ev) => {
      if (!open)
        reject(failure ?? new Error(`WebSocket to ${url.href} closed before opening (code ${ev.code})`));
      finish();
    };
    options.signal?.addEventListener('abort', () => {
      socket.destroy();
      reject(new Error(`WebSocket connection to ${url.href} aborted`));
    });
  });
  return socket;
}

/** node:net's surface used here, typed locally so nothing from Node is imported at top level. */
type NetModule = typeof import('node:net');

async function openTcp(url: URL, events: FrameSocketEvents, options: OpenOptions): Promise<FrameSocket> {
  const isNode =
    typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node ===
    'string';
  if (!isNode) throw new Error('tcp:// works in Node only; browsers use ws:// or wss://');
  // A variable specifier keeps browser bundlers from trying to resolve node:net.
  const specifier = 'node:net';
  const net = (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as NetModule;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port);
  if (!host || !port) throw new Error(`tcp URL needs a host and a port: ${url.href}`);
  const tcp = net.connect({ host, port, noDelay: true });
  const reader = new FrameReader(options.maxIncomingFrameBytes);
  let open = false;
  let failure: Error | null = null;
  // Handlers go on before the socket opens, so nothing read early is missed.
  tcp.on('data', (chunk: Uint8Array) => {
    if (failure !== null) return;
    try {
      reader.push(chunk, events.frame);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      failure = err;
      tcp.destroy();
    }
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('connect', () => {
      open = true;
      resolve();
    });
    tcp.on('error', (err: Error) => {
      failure ??= err;
      if (!open) reject(err);
    });
    tcp.on('close', () => {
      if (open) events.closed(failure);
      else reject(failure ?? new Error(`connection to ${url.href} closed before it opened`));
    });
    options.signal?.addEventListener('abort', () => tcp.destroy());
  });
  return {
    send: (frame) => {
      tcp.write(frame);
    },
    get bufferedAmount() {
      return tcp.writableLength;
    },
    close: () => {
      tcp.end();
      unref(setTimeout(() => tcp.destroy(), CLOSE_LINGER_MS));
    },
    destroy: () => {
      tcp.destroy();
    },
  };
}

/** Lets Node exit while the timer is pending (browsers' timers are plain numbers). */
export function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
