import { z } from 'zod';
import { VERSION } from '../version.js';
import { statsAnswers } from './openapi-stats.js';
import { kickBody, membersBody, messageBody, pushBody } from './schemas.js';

/**
 * The OpenAPI 3.1 document of the push/admin API (SPEC §5, docs/push-api.md), served at
 * `GET /v1/openapi.json`. Request bodies are the zod schemas the server validates with
 * (src/api/schemas.ts), turned into JSON Schema 2020-12 (the dialect of OpenAPI 3.1), so
 * the document cannot describe a body the server would refuse or the other way round.
 * The answers are described by the zod schemas below; test/integration/openapi.test.ts
 * checks real answers of every route against them, and that the document lists exactly
 * the routes and methods the server answers.
 */

const count = z.number().int().nonnegative();
const pushResult = z.enum(['delivered', 'cached', 'dropped']);

const answers = {
  PushAnswer: z.strictObject({
    delivered: count,
    cached: count,
    dropped: count,
    results: z
      .record(z.string(), pushResult)
      .optional()
      .describe("Each player's outcome, only when the push named at most 100 players."),
  }),
  Delivered: z.strictObject({ delivered: count }),
  Members: z.strictObject({ members: count.describe('Members of the group after the change.') }),
  GroupMembers: z.strictObject({
    group: z.string(),
    count: count.describe('The length of members.'),
    members: z.array(z.string()).describe('Known players, online or offline, in no particular order.'),
  }),
  Kicked: z.strictObject({ kicked: count.describe('Players that were online and got KICK KICKED.') }),
  Player: z.strictObject({
    playerId: z.string(),
    online: z.boolean(),
    node: z.string().nullable().describe('The node holding it; null while offline.'),
    sessionId: z.string().nullable(),
    lastActiveAt: z.iso.datetime().describe('Its last request, its login, or the end of its session.'),
    offlineQueued: count.describe('Messages in its offline queue (expired ones not counted).'),
    pushSeq: count.describe('The last push seq given out; the next PUSH carries pushSeq + 1.'),
  }),
  ...statsAnswers,
  Health: z.strictObject({ status: z.literal('ok') }),
  Ready: z.strictObject({ status: z.enum(['ready', 'not_ready']) }),
  Error: z.strictObject({
    error: z.enum([
      'invalid_request',
      'unauthorized',
      'not_found',
      'method_not_allowed',
      'payload_too_large',
      'engine_unavailable',
      'busy',
      'internal',
    ]),
    message: z.string(),
  }),
};

const bodies = { PushBody: pushBody, MessageBody: messageBody, MembersBody: membersBody, KickBody: kickBody };

/** The naming rule (src/players/names.ts) is code, not JSON Schema: said in words. */
const PLAYER_ID =
  'A player id: 1-256 characters, no comma, no control character, no whitespace at either end.';

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  const players = (rest.properties as Record<string, { items?: Record<string, unknown> }> | undefined)
    ?.players;
  if (players?.items !== undefined) players.items = { ...players.items, description: PLAYER_ID };
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ 'application/json': { schema: ref(name) } });
const answer = (description: string, name: string) => ({ description, content: json(name) });
const refused = (name: string) => ({ $ref: `#/components/responses/${name}` });

/**
 * The refusals every authorized route may answer; the body routes add theirs. 404 for an
 * unknown path and 405 for an unknown method belong to no operation: the description
 * and components.responses say them.
 */
const common = {
  '401': refused('Unauthorized'),
  '500': refused('Internal'),
};
const withBody = { '400': refused('InvalidRequest'), '413': refused('PayloadTooLarge') };
const engine = { '503': refused('EngineUnavailable') };

function body(name: string, description: string) {
  return { required: true, description, content: json(name) };
}

const groupParam = {
  name: 'group',
  in: 'path',
  required: true,
  description: '1-128 characters, no comma, no control character, no edge whitespace (percent-encoded).',
  schema: { type: 'string', minLength: 1 },
};

const paths = {
  '/v1/push': {
    post: {
      operationId: 'push',
      summary: 'Push one message to players (cached for known offline players unless offline is false)',
      description:
        'JSON body, or the raw message with content-type application/octet-stream and the players, cmd and offline in the query.',
      parameters: [
        {
          name: 'players',
          in: 'query',
          description: 'Octet-stream form: comma-separated player ids.',
          schema: { type: 'string' },
        },
        {
          name: 'cmd',
          in: 'query',
          description: 'Octet-stream form: the PUSH cmd (u32).',
          schema: { type: 'string', pattern: '^\\d+$' },
        },
        {
          name: 'offline',
          in: 'query',
          description: 'Octet-stream form: false turns caching off.',
          schema: { type: 'string', enum: ['true', 'false'] },
        },
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': { schema: ref('PushBody') },
          'application/octet-stream': {
            schema: { type: 'string', contentMediaType: 'application/octet-stream' },
          },
        },
      },
      responses: { '200': answer('Counts per outcome', 'PushAnswer'), ...withBody, ...common, ...engine },
    },
  },
  '/v1/broadcast': {
    post: {
      operationId: 'broadcast',
      summary: 'Push to every session bound to a player, on every node (never cached)',
      requestBody: body('MessageBody', 'The PUSH cmd and base64 body.'),
      responses: { '200': answer('Sessions written to', 'Delivered'), ...withBody, ...common, ...engine },
    },
  },
  '/v1/groups/{group}/push': {
    post: {
      operationId: 'groupPush',
      summary: "Push to a group's online members (never cached)",
      parameters: [groupParam],
      requestBody: body('MessageBody', 'The PUSH cmd and base64 body.'),
      responses: { '200': answer('Sessions written to', 'Delivered'), ...withBody, ...common, ...engine },
    },
  },
  '/v1/groups/{group}/members': {
    get: {
      operationId: 'groupMembers',
      summary: "A group's members (an unknown group: an empty list)",
      parameters: [groupParam],
      responses: {
        '200': answer('The members', 'GroupMembers'),
        '400': refused('InvalidRequest'),
        ...common,
        ...engine,
      },
    },
    put: {
      operationId: 'joinGroup',
      summary: 'Add known players to a group (unknown ids are skipped)',
      parameters: [groupParam],
      requestBody: body('MembersBody', 'The players to add.'),
      responses: { '200': answer('Member count after', 'Members'), ...withBody, ...common, ...engine },
    },
    delete: {
      operationId: 'leaveGroup',
      summary: 'Remove players from a group',
      parameters: [groupParam],
      requestBody: body('MembersBody', 'The players to remove.'),
      responses: { '200': answer('Member count after', 'Members'), ...withBody, ...common, ...engine },
    },
  },
  '/v1/kick': {
    post: {
      operationId: 'kick',
      summary: 'KICK KICKED (302) to each online player and close its session',
      requestBody: body('KickBody', 'The players and the reason sent in the KICK body.'),
      responses: { '200': answer('Players kicked', 'Kicked'), ...withBody, ...common, ...engine },
    },
  },
  '/v1/players/{id}': {
    get: {
      operationId: 'player',
      summary: 'Look a player up',
      parameters: [
        {
          name: 'id',
          in: 'path',
          required: true,
          description:
            '1-256 characters, no comma, no control character, no edge whitespace (percent-encoded).',
          schema: { type: 'string', minLength: 1 },
        },
      ],
      responses: {
        '200': answer('The player', 'Player'),
        '400': refused('InvalidRequest'),
        '404': refused('NotFound'),
        ...common,
        ...engine,
      },
    },
  },
  '/v1/stats': {
    get: {
      operationId: 'stats',
      summary: 'A snapshot of this node: sessions, players, offline messages, requests',
      responses: { '200': answer('This node', 'Stats'), ...common },
    },
  },
  '/v1/stats/cmds': {
    get: {
      operationId: 'cmdStats',
      summary: 'Requests of this node by result and their latency, per cmd and route target, since start',
      responses: { '200': answer('Per cmd', 'CmdStats'), ...common },
    },
  },
  '/v1/stats/targets': {
    get: {
      operationId: 'targetStats',
      summary: "This node's backend targets: endpoints, pool use, circuit state, errors, latency",
      responses: { '200': answer('Per target', 'TargetStats'), ...common },
    },
  },
  '/v1/nodes': {
    get: {
      operationId: 'nodes',
      summary: 'The gateway nodes alive now (cluster.engine redis: every heartbeat key; local: this node)',
      responses: { '200': answer('The nodes', 'Nodes'), ...common, ...engine },
    },
  },
  '/console': {
    get: {
      operationId: 'console',
      summary:
        'The operator console page (docs/console.md); it asks for the token and reads the routes above',
      security: [],
      responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  },
  '/console/{file}': {
    get: {
      operationId: 'consoleFile',
      summary: "The console page's script and style sheet",
      security: [],
      parameters: [
        {
          name: 'file',
          in: 'path',
          required: true,
          schema: { type: 'string', enum: ['index.html', 'console.js', 'console.css'] },
        },
      ],
      responses: {
        '200': {
          description: 'The file',
          content: {
            'text/javascript': { schema: { type: 'string' } },
            'text/css': { schema: { type: 'string' } },
            'text/html': { schema: { type: 'string' } },
          },
        },
        '404': refused('NotFound'),
      },
    },
  },
  '/v1/openapi.json': {
    get: {
      operationId: 'openapi',
      summary: 'This document',
      responses: {
        '200': {
          description: 'OpenAPI 3.1',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
        ...common,
      },
    },
  },
  '/healthz': {
    get: {
      operationId: 'healthz',
      summary: 'Liveness: 200 while the process runs',
      security: [],
      responses: { '200': answer('Alive', 'Health') },
    },
  },
  '/readyz': {
    get: {
      operationId: 'readyz',
      summary: 'Readiness: every listener up, the cluster engine connected, not draining',
      security: [],
      responses: {
        '200': answer('Ready', 'Ready'),
        '503': answer('Starting or draining', 'Ready'),
      },
    },
  },
  '/metrics': {
    get: {
      operationId: 'metrics',
      summary: 'Prometheus text format (docs/metrics.md)',
      responses: {
        '200': { description: 'Prometheus text', content: { 'text/plain': { schema: { type: 'string' } } } },
        '503': {
          description: 'Over 8 scrapes in progress (busy); retry after a second',
          content: json('Error'),
        },
        ...common,
      },
    },
  },
};

function errorResponse(description: string) {
  return { description, content: json('Error') };
}

let built: Record<string, unknown> | undefined;

/** The document (built once: the schemas do not change while the process runs). */
export function openApiDocument(): Record<string, unknown> {
  built ??= {
    openapi: '3.1.1',
    info: {
      title: 'game-gateway push and admin API',
      version: VERSION,
      description:
        'Backends push to players, groups and everyone, manage groups, kick and look players up (docs/push-api.md). ' +
        'HEAD is answered wherever GET is. A path not listed answers 404 not_found, a method not listed for a ' +
        'path 405 method_not_allowed with an allow header (both the Error schema). The token is checked before ' +
        'the route and the method, so without it every route but /healthz and /readyz answers 401.',
    },
    servers: [{ url: 'http://127.0.0.1:7002', description: 'listen.api (default)' }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'api.token or one of api.tokens (when set).' },
      },
      schemas: {
        ...Object.fromEntries(Object.entries(bodies).map(([name, s]) => [name, jsonSchema(s, 'input')])),
        ...Object.fromEntries(Object.entries(answers).map(([name, s]) => [name, jsonSchema(s, 'output')])),
      },
      responses: {
        InvalidRequest: errorResponse('invalid_request: malformed target, body, field, query or name'),
        Unauthorized: errorResponse(
          'unauthorized: a token is set and the request lacks it; the connection closes',
        ),
        NotFound: errorResponse('not_found: no such route, or an unknown player'),
        MethodNotAllowed: errorResponse('method_not_allowed; the allow header lists the methods'),
        PayloadTooLarge: errorResponse(
          'payload_too_large: body over api.maxBodyBytes; the connection closes',
        ),
        EngineUnavailable: errorResponse(
          'engine_unavailable: shared state (Redis) out of reach; retry later',
        ),
        Internal: errorResponse('internal: a bug, logged'),
      },
    },
  };
  return built;
}
