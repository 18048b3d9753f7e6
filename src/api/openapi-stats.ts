import { z } from 'zod';

/**
 * The answers of the JSON stats routes (GET /v1/stats, /v1/stats/cmds, /v1/stats/targets, /v1/nodes;
 * src/api/stats-routes.ts) as zod schemas, for the OpenAPI document (src/api/openapi.ts).
 */

const count = z.number().int().nonnegative();

const buckets = z
  .array(z.number().positive())
  .describe('The finite upper bounds of the latency buckets (seconds), ascending.');
const latency = z.strictObject({
  buckets: z
    .array(count)
    .describe('Cumulative counts: observations ≤ each of bucketsSeconds, then the +Inf count (= count).'),
  count,
  sumSeconds: z.number().nonnegative(),
  p99Ms: z
    .number()
    .nonnegative()
    .nullable()
    .describe(
      '99th percentile since start, interpolated in its bucket as histogram_quantile() does; null: none.',
    ),
});
const requestTotals = z.strictObject({
  success: count,
  error: count,
  drop: count,
  latency: latency.describe('gateway_request_duration_seconds.'),
});

export const statsAnswers = {
  Stats: z.strictObject({
    node: z.string(),
    sessions: z.strictObject({ connected: count, authed: count }),
    players: z.strictObject({ online: count, offline: count }),
    offlineMessages: count,
    requestsInFlight: count,
    requests: z.strictObject({ success: count, error: count, drop: count }),
    errors: z
      .record(z.string(), count)
      .describe('gateway_errors_total by type since start; a type never counted is absent.'),
    ready: z.boolean(),
    targets: z
      .record(
        z.string(),
        z.strictObject({
          service: z.string().describe('The registry service name the target is discovered under.'),
          read: z.boolean().describe('Whether the service was read once from etcd (/readyz waits for it).'),
          instances: z
            .array(z.strictObject({ id: z.string(), baseUrl: z.string() }))
            .describe('The instances requests go to now: their registry id and base URL.'),
        }),
      )
      .optional()
      .describe('Discovered targets (only with registry.etcd): their service, read state and instances.'),
  }),
  CmdStats: z.strictObject({
    bucketsSeconds: buckets,
    total: requestTotals.describe('Every request, summed over cmds and targets.'),
    cmds: z.array(
      requestTotals
        .extend({
          cmd: z
            .union([count, z.literal('unrouted')])
            .describe('The cmd; "unrouted" for every cmd no route or plugin covers (one row).'),
          target: z.string().describe('The route target label; "" when none was chosen.'),
        })
        .describe('One (cmd, route target) pair, summed over player_id.'),
    ),
  }),
  TargetStats: z.strictObject({
    bucketsSeconds: buckets,
    targets: z.array(
      z.strictObject({
        name: z.string(),
        discover: z
          .string()
          .nullable()
          .describe('The service name of a discovered target; null: a fixed url.'),
        timeoutMs: count.nullable(),
        calls: count.describe('Backend calls finished (gateway_backend_duration_seconds_count).'),
        errors: z
          .record(z.string(), count)
          .describe('gateway_backend_errors_total by error_type (timeout, connect_error, http_error, …).'),
        latency: latency.describe('gateway_backend_duration_seconds of this target.'),
        endpoints: z.array(
          z.strictObject({
            instance: z.string().nullable().describe('The registry instance id; null for a fixed url.'),
            url: z.string(),
            circuit: z.enum(['closed', 'open', 'off']).describe('open: calls refused (or one probe out).'),
            pool: z.strictObject({
              connections: count.nullable().describe('targets.<name>.connections: the pool bound.'),
              connected: count.describe('Open connections.'),
              free: count.describe('Open connections without a request.'),
              running: count.describe('Requests on a connection now.'),
              pending: count.describe('Requests waiting for a connection.'),
            }),
          }),
        ),
      }),
    ),
  }),
  Nodes: z.strictObject({
    engine: z.enum(['local', 'redis']),
    self: z.string().describe('The node.id of the node that answered.'),
    nodes: z.array(
      z.strictObject({
        id: z.string(),
        instance: z.string().nullable().describe('The process holding the id; null with the local engine.'),
        heartbeatAgeMs: count.describe(
          'Since its heartbeat was renewed (every second); 0 with the local engine.',
        ),
        self: z.boolean(),
      }),
    ),
  }),
};
