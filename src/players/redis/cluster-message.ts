/**
 * Messages between gateway nodes over Redis pub/sub. One byte of kind, then the kind's
 * fields as netstrings (`<byte length>:<bytes>`), then the body (the rest, raw). The Lua
 * scripts in redis-scripts.ts build PUSH, GROUP and KICK messages with the same layout,
 * so a player id or a reason may hold any byte, newlines included.
 */
export const MessageKind = {
  /**
   * cmd, from, reqId, n, then n × (player, epoch) | body: pushes to the bindings of these
   * epochs, routed by the push script (which read the holders from Redis). Answered by one
   * RESULTS entry.
   */
  PUSH: 0x50, // 'P'
  /**
   * from, reqId, k, then k groups of (cmd, body length, n, n × (player, epoch)) | the k
   * bodies, one after the other: the pushes a node sends in one event-loop turn straight
   * from its route cache (push-router.ts) to one node, without asking Redis who holds the
   * players. The receiver applies it only while its view of its own bindings is known to
   * be current (NodeRegistration.current()); otherwise every entry is answered "not here"
   * and the sender routes them through the script. Answered by one RESULTS entry, one
   * code per (player, epoch) in message order. 'M', not the 'D' of the single-call layout
   * it replaced: a node of an older build ignores it as an unknown kind (and this build
   * ignores an old 'D') instead of reading one layout as the other.
   */
  DIRECT: 0x4d, // 'M'
  /** epoch ('0': any), player, status, from, reqId, reason: kick the player's binding. */
  KICK: 0x4b, // 'K'
  /** cmd, from, reqId, n, then n × (player, epoch) | body: a group push to this node's members. */
  GROUP: 0x47, // 'G'
  /** cmd, from, reqId | body: a broadcast to every bound session of every node. */
  BROADCAST: 0x42, // 'B'
  /**
   * n, then n × (reqId, result): answers to KICK (1 kicked, 0 not), GROUP and BROADCAST
   * (the sessions written to).
   */
  ACK: 0x41, // 'A'
  /**
   * from, n, then n × (reqId, codes): answers to PUSH and DIRECT, one code per entry of
   * the message, in its order (pushCode()).
   */
  RESULTS: 0x52, // 'R'
} as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

export interface DecodedMessage {
  kind: number;
  fields: string[];
  body: Buffer;
}

const COLON = 0x3a;
const ZERO = 0x30;

/**
 * Encodes a message into one buffer; `fields` are UTF-8 strings, `body` (or the bodies,
 * one after the other) is appended raw. Sized first, then written: a push to a hundred
 * players is one allocation, not four hundred.
 */
export function encodeMessage(
  kind: MessageKind,
  fields: readonly string[],
  body?: Buffer | readonly Buffer[],
): Buffer {
  const lengths = new Array<number>(fields.length);
  let size = 1;
  if (body !== undefined) {
    if (Buffer.isBuffer(body)) size += body.length;
    else for (const b of body) size += b.length;
  }
  for (let i = 0; i < fields.length; i++) {
    const n = Buffer.byteLength(fields[i], 'utf8');
    lengths[i] = n;
    size += n + digits(n) + 1;
  }
  const buf = Buffer.allocUnsafe(size);
  buf[0] = kind;
  let at = 1;
  for (let i = 0; i < fields.length; i++) {
    at += buf.write(String(lengths[i]), at, 'latin1');
    buf[at++] = COLON;
    at += buf.write(fields[i], at, 'utf8');
  }
  if (body === undefined) return buf;
  if (Buffer.isBuffer(body)) body.copy(buf, at);
  else for (const b of body) at += b.copy(buf, at);
  return buf;
}

function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

/**
 * Decodes a message: its kind's fixed fields, then, for the kinds that carry a list, as
 * many tuples as the last fixed field counts. Returns null for anything malformed.
 */
export function decodeMessage(buf: Buffer): DecodedMessage | null {
  if (buf.length === 0) return null;
  const kind = buf[0];
  const fixed = FIXED_FIELDS[kind];
  if (fixed === undefined) return null;
  const fields: string[] = [];
  let at = 1;
  const read = (): boolean => {
    // The length: at most 10 decimal digits, then a colon.
    let len = 0;
    let i = at;
    for (; i < buf.length; i++) {
      const c = buf[i];
      if (c === COLON) break;
      if (c < ZERO || c > ZERO + 9 || i - at >= 10) return false;
      len = len * 10 + (c - ZERO);
    }
    if (i === at || i >= buf.length || buf[i] !== COLON || i + 1 + len > buf.length) return false;
    fields.push(buf.toString('utf8', i + 1, i + 1 + len));
    at = i + 1 + len;
    return true;
  };
  for (let i = 0; i < fixed; i++) if (!read()) return null;
  // DIRECT: its bodies must fill the rest exactly.
  if (kind === MessageKind.DIRECT)
    return readGroups(fields, read) === buf.length - at ? { kind, fields, body: buf.subarray(at) } : null;
  const tuple = TUPLE_FIELDS[kind];
  if (tuple !== undefined) {
    const n = Number(fields[fields.length - 1]);
    if (!Number.isInteger(n) || n < 0) return null;
    for (let i = 0; i < n * tuple; i++) if (!read()) return null;
  }
  return { kind, fields, body: buf.subarray(at) };
}

/**
 * DIRECT's groups: (cmd, body length, n) then n × (player, epoch), as many as its third
 * field counts. Returns the sum of the body lengths, or -1 when malformed.
 */
function readGroups(fields: string[], read: () => boolean): number {
  const k = Number(fields[2]);
  if (!Number.isInteger(k) || k < 0) return -1;
  let bodies = 0;
  for (let g = 0; g < k; g++) {
    for (let i = 0; i < 3; i++) if (!read()) return -1;
    const len = Number(fields[fields.length - 2]);
    const n = Number(fields[fields.length - 1]);
    if (!Number.isInteger(len) || len < 0 || !Number.isInteger(n) || n < 0) return -1;
    bodies += len;
    for (let i = 0; i < 2 * n; i++) if (!read()) return -1;
  }
  return bodies;
}

const FIXED_FIELDS: Record<number, number> = {
  [MessageKind.PUSH]: 4,
  [MessageKind.DIRECT]: 3,
  [MessageKind.KICK]: 6,
  [MessageKind.GROUP]: 4,
  [MessageKind.BROADCAST]: 3,
  [MessageKind.ACK]: 1,
  [MessageKind.RESULTS]: 2,
};

/** Fields per counted entry, for the kinds that carry a list. */
const TUPLE_FIELDS: Record<number, number> = {
  [MessageKind.PUSH]: 2,
  [MessageKind.GROUP]: 2,
  [MessageKind.ACK]: 2,
  [MessageKind.RESULTS]: 2,
};

/** One entry's answer in a RESULTS message: w written, n not here, f write failed. */
export const PushCode = { WRITTEN: 'w', NOT_HERE: 'n', WRITE_FAILED: 'f' } as const;
