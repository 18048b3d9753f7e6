/**
 * Messages between gateway nodes over Redis pub/sub. One byte of kind, then the kind's
 * fields as netstrings (`<byte length>:<bytes>`), then the body (the rest, raw). The Lua
 * scripts in redis-scripts.ts build PUSH, GROUP and KICK messages with the same layout,
 * so a player id or a reason may hold any byte, newlines included.
 */
export const MessageKind = {
  /** cmd, from, n, then n × (player, epoch, reqId) | body: direct pushes to bindings of these epochs. */
  PUSH: 0x50, // 'P'
  /** epoch ('0': any), player, status, from, reqId, reason: kick the player's binding. */
  KICK: 0x4b, // 'K'
  /** cmd, from, reqId, n, then n × (player, epoch) | body: a group push to this node's members. */
  GROUP: 0x47, // 'G'
  /** cmd, from, reqId | body: a broadcast to every bound session of every node. */
  BROADCAST: 0x42, // 'B'
  /**
   * n, then n × (reqId, result): answers. For a PUSH the holding node's Delivery
   * (local-hub.ts); for KICK 1 (kicked) or 0; for GROUP and BROADCAST the sessions written to.
   */
  ACK: 0x41, // 'A'
} as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

export interface DecodedMessage {
  kind: number;
  fields: string[];
  body: Buffer;
}

const COLON = 0x3a;

/** Encodes a message; `fields` are UTF-8 strings, `body` is appended raw. */
export function encodeMessage(kind: MessageKind, fields: readonly string[], body?: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.of(kind)];
  for (const f of fields) {
    const bytes = Buffer.from(f, 'utf8');
    parts.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes);
  }
  if (body !== undefined && body.length > 0) parts.push(body);
  return Buffer.concat(parts);
}

/**
 * Decodes a message: its kind's fixed fields, then, for PUSH, GROUP and ACK, as many
 * tuples as the last fixed field counts. Returns null for anything malformed.
 */
export function decodeMessage(buf: Buffer): DecodedMessage | null {
  if (buf.length === 0) return null;
  const kind = buf[0];
  const fixed = FIXED_FIELDS[kind];
  if (fixed === undefined) return null;
  const fields: string[] = [];
  let at = 1;
  const read = (): boolean => {
    const colon = buf.indexOf(COLON, at);
    if (colon < 0 || colon - at > 10) return false;
    const len = Number(buf.toString('latin1', at, colon));
    if (!Number.isInteger(len) || colon + 1 + len > buf.length) return false;
    fields.push(buf.toString('utf8', colon + 1, colon + 1 + len));
    at = colon + 1 + len;
    return true;
  };
  for (let i = 0; i < fixed; i++) if (!read()) return null;
  const tuple = TUPLE_FIELDS[kind];
  if (tuple !== undefined) {
    const n = Number(fields[fields.length - 1]);
    if (!Number.isInteger(n) || n < 0) return null;
    for (let i = 0; i < n * tuple; i++) if (!read()) return null;
  }
  return { kind, fields, body: buf.subarray(at) };
}

const FIXED_FIELDS: Record<number, number> = {
  [MessageKind.PUSH]: 3,
  [MessageKind.KICK]: 6,
  [MessageKind.GROUP]: 4,
  [MessageKind.BROADCAST]: 3,
  [MessageKind.ACK]: 1,
};

/** Fields per counted entry, for the kinds that carry a list. */
const TUPLE_FIELDS: Record<number, number> = {
  [MessageKind.PUSH]: 3,
  [MessageKind.GROUP]: 2,
  [MessageKind.ACK]: 2,
};
