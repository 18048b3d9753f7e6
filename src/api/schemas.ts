import { z } from 'zod';

const playerId = z.string().min(1, 'player ids are non-empty strings').max(256);
const players = z.array(playerId).min(1, 'players must name at least one player').max(100_000);
const cmd = z.number().int('cmd must be an integer').min(0).max(0xffffffff, 'cmd must fit in u32');
const base64 = z
  .string()
  .regex(
    /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/,
    'data must be base64',
  );

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

/** Group names: what a directive header or a URL segment can carry. */
export const groupName = z
  .string()
  .regex(/^[^\s,]{1,128}$/, 'group names are 1–128 characters without spaces or commas');
