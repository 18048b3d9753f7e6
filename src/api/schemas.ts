import { z } from 'zod';
import { playerIdProblem } from '../players/names.js';

/** Player ids follow the one rule of src/players/names.ts, as directives and plugins do. */
const playerId = z.string().superRefine((id, ctx) => {
  const problem = playerIdProblem(id);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
const MAX_PLAYERS = 100_000;
const players = z.array(playerId).min(1, 'players must name at least one player').max(MAX_PLAYERS);
const cmd = z.number().int('cmd must be an integer').min(0).max(0xffffffff, 'cmd must fit in u32');
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
const base64 = z.string().regex(BASE64, 'data must be base64');

export const pushBody = z.strictObject({
  players,
  cmd,
  data: base64.default(''),
  offline: z.boolean().default(true),
});
export const messageBody = z.strictObject({ cmd, data: base64.default('') });
export const membersBody = z.strictObject({ players });
export const kickBody = z.strictObject({
  players,
  reason: z.string().max(1024).default('kicked by the API'),
});

export type PushBody = z.output<typeof pushBody>;
const PUSH_FIELDS = new Set(['players', 'cmd', 'data', 'offline']);

/**
 * The push body, when it is plainly valid, checked without zod: POST /v1/push is the hot
 * path of the API, and zod's generic walk costs more than the rest of the call. It
 * accepts exactly what pushBody accepts (test/unit/push-body.test.ts compares the two on
 * generated bodies); undefined means "let pushBody judge", which words the error.
 */
export function plainPushBody(value: unknown): PushBody | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const o = value as Record<string, unknown>;
  for (const key in o) if (!PUSH_FIELDS.has(key)) return undefined;
  const { players: ids, cmd: c, data, offline } = o;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_PLAYERS) return undefined;
  for (const id of ids) if (typeof id !== 'string' || playerIdProblem(id) !== undefined) return undefined;
  if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 0xffffffff) return undefined;
  if (data !== undefined && (typeof data !== 'string' || !BASE64.test(data))) return undefined;
  if (offline !== undefined && typeof offline !== 'boolean') return undefined;
  return {
    players: ids as string[],
    cmd: c,
    data: (data as string | undefined) ?? '',
    offline: offline ?? true,
  };
}
