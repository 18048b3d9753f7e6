import { z } from 'zod';
import { playerIdProblem } from '../players/names.js';

/** Player ids follow the one rule of src/players/names.ts, as directives and plugins do. */
const playerId = z.string().superRefine((id, ctx) => {
  const problem = playerIdProblem(id);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
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
