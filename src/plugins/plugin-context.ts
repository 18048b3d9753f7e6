import type { Directives } from '../backend/backend-call.js';
import type { StatusName } from '../protocol/status.js';

/** Bytes as the gateway sends them; a string is sent as UTF-8. */
export type Body = Uint8Array | string;

/**
 * How a local handler or an onRequest hook answers. `status` is 0 (the default), an
 * application code 1000–65535 (sent with `body`, like a backend's x-gateway-status), or a
 * gateway status of SPEC §6 by code or name (`'ROUTE_NOT_FOUND'`), sent as the SPEC's JSON
 * error body with `message`.
 */
export interface LocalReply {
  body?: Body;
  status?: number | StatusName;
  message?: string;
}

/** One session as plugins see it. */
export interface PluginSession {
  readonly id: string;
  /** The bound player, or null before login. */
  readonly playerId: string | null;
  readonly remoteAddress: string;
  /** Per-session storage shared by all plugins (prefix keys with the plugin name); gone with the session. */
  readonly state: Map<string, unknown>;
}

/** A REQUEST or NOTIFY past the limits and the auth gate. */
export interface RequestContext {
  readonly cmd: number;
  readonly seq: number;
  readonly kind: 'request' | 'notify';
  /** The frame body, unchanged. */
  readonly body: Buffer;
  readonly session: PluginSession;
  /** Sent to the backend as x-request-id and logged with any failure. */
  readonly requestId: string;
  /**
   * The target this request is forwarded to: the route table's choice (null without a
   * route) until a hook sets it. Must name a target of the config; null → ROUTE_NOT_FOUND.
   * Ignored for cmds answered by a local handler.
   */
  target: string | null;
}

/** A forwarded request's outcome, seen by onResponse hooks before the client. */
export interface ResponseContext {
  readonly request: RequestContext;
  /** The target that was called. */
  readonly target: string;
  /** True when the backend answered 2xx. */
  readonly ok: boolean;
  /** The RESPONSE status the client gets: 0, an application code, or a gateway status (BACKEND_*). */
  readonly status: number;
  /** The backend's HTTP status; 0 when it did not answer (timeout, unreachable). */
  readonly httpStatus: number;
  /** The backend's response body (empty when it failed without one). */
  readonly body: Buffer;
  /**
   * The x-gateway-* headers of the answer (`extra` holds the ones the gateway does not
   * know). Always an object: every field null and `extra` empty when the answer had none
   * or the backend did not answer.
   */
  readonly directives: Readonly<Directives>;
  /** One x-gateway-* header of the answer by name (case-insensitive), e.g. 'x-gateway-map'. */
  header(name: string): string | undefined;
}

export interface BindContext {
  readonly session: PluginSession;
  readonly playerId: string;
}

export interface SessionCloseContext {
  /** `playerId` is still set when the session was bound at close. */
  readonly session: PluginSession;
}

/** What a handler or an onRequest hook returns: a reply, or nothing (`void` so `() => {}` fits). */
// biome-ignore lint/suspicious/noConfusingVoidType: handlers and hooks may return nothing, sync or async.
export type MaybeReply = LocalReply | undefined | void;

export type LocalHandler = (ctx: RequestContext) => MaybeReply | Promise<MaybeReply>;
