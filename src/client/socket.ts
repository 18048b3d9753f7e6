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
  /** A WebSocket implementation; default: the `ws` package in Node, the global one in browsers. */
  WebSocket?: WebSocketConstructor;
  /** Largest frame accepted from the gateway on tcp:// (a guard against a broken peer). */
  maxIncomingFrameBytes: number;
  /** Aborting it destroys the socket, opening or open. */
  signal?: AbortSignal;
  /** tls:// and wss:// in Node: the CA(s) the gateway's certificate must chain to, PEM; default: Node's list. */
  ca?: string | Uint8Array;
  /** tls:// and wss:// in Node: a client certificate and its key, PEM (a gateway with listen.tls.ca). */
  cert?: string | Uint8Array;
  key?: string | Uint8Array;
}

/** How long close() waits for the peer before destroying the socket. */
const CLOSE_LINGER_MS = 1_000;

/** Opens `tcp://` or `tls://host:port` (Node only) or `ws(s)://host:port/path`; resolves once open. */
export function openSocket(url: URL, events: FrameSocketEvents, options: OpenOptions): Promise<FrameSocket> {
  switch (url.protocol) {
    case 'ws:':
    case 'wss:':
      return openWebSocket(url, events, options);
    case 'tcp:':
    case 'tls:':
      return openTcp(url, events, options);
    default:
      return Promise.reject(
        new Error(`unsupported URL scheme "${url.protocol}" (use tcp://, tls://, ws:// or wss://)`),
      );
  }
}

async function webSocketConstructor(given: WebSocketConstructor | undefined): Promise<WebSocketConstructor> {
  if (given !== undefined) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  // In Node, the `ws` package even where a global WebSocket exists (Node 22+): that one
  // ignores the third argument (ca, cert and key for wss://) and its error events carry
  // no socket error (ECONNREFUSED…). The gateway package depends on `ws` anyway.
  if (global !== undefined && !isNode()) return global;
  const ws = (await import('ws')) as unknown as { default: WebSocketConstructor };
  return ws.default;
}

function isNode(): boolean {
  return (
    typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string'
  );
}

async function openWebSocket(
  url: URL,
  events: FrameSocketEvents,
  options: OpenOptions,
): Promise<FrameSocket> {
  const Ctor = await webSocketConstructor(options.WebSocket);
  // The third argument is read by `ws` only (browsers ignore it): frames are binary and
  // small; `ca` is for wss:// (a browser trusts what the system trusts).
  const ws = new Ctor(url.href, [], {
    perMessageDeflate: false,
    ...secureOptions(options),
  });
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

/** node:net's and node:tls's surface used here, typed locally so nothing from Node is imported at top level. */
type NetModule = typeof import('node:net');
type TlsModule = typeof import('node:tls');

async function openTcp(url: URL, events: FrameSocketEvents, options: OpenOptions): Promise<FrameSocket> {
  const secure = url.protocol === 'tls:';
  if (!isNode()) throw new Error(`${url.protocol}// works in Node only; browsers use ws:// or wss://`);
  // A variable specifier keeps browser bundlers from trying to resolve node:net.
  const specifier = secure ? 'node:tls' : 'node:net';
  const mod = await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port);
  if (!host || !port) throw new Error(`${url.protocol}// URL needs a host and a port: ${url.href}`);
  // tls: the certificate is checked against `ca` (else Node's CAs) and the URL's host.
  const tcp = secure
    ? (mod as TlsModule)
        .connect({
          host,
          port,
          servername: isIp(host) ? undefined : host,
          ...secureOptions(options),
        })
        .setNoDelay(true)
    : (mod as NetModule).connect({ host, port, noDelay: true });
  const connected = secure ? 'secureConnect' : 'connect';
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
    tcp.once(connected, () => {
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

/** The ca, cert and key given, as PEM strings (absent ones left out: Node's defaults). */
function secureOptions(options: OpenOptions): { ca?: string; cert?: string; key?: string } {
  const out: { ca?: string; cert?: string; key?: string } = {};
  for (const name of ['ca', 'cert', 'key'] as const) {
    const value = options[name];
    if (value !== undefined) out[name] = typeof value === 'string' ? value : new TextDecoder().decode(value);
  }
  return out;
}

/** An IP literal gets no SNI (RFC 6066); Node checks the certificate's IP SANs for it. */
function isIp(host: string): boolean {
  return host.includes(':') || /^\d+\.\d+\.\d+\.\d+$/.test(host);
}

/** Lets Node exit while the timer is pending (browsers' timers are plain numbers). */
export function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}
