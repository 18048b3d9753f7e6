/**
 * The frame layout constants of SPEC §3, with no imports and no Buffer, so the browser
 * client (src/client/) and the gateway share one definition.
 */

/** Frame types of SPEC §3. */
export const FrameType = {
  HELLO: 1,
  REQUEST: 2,
  RESPONSE: 3,
  NOTIFY: 4,
  PUSH: 5,
  PING: 6,
  PONG: 7,
  KICK: 8,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Bytes before the body: length u32, type u8, flags u8, status u16, cmd u32, seq u32. */
export const HEADER_BYTES = 16;
/** The smallest legal value of the length field: the 12 header bytes after it. */
export const MIN_LENGTH = 12;
/** A PING body may carry at most this many bytes (echoed in the PONG). */
export const MAX_PING_BODY_BYTES = 64;
