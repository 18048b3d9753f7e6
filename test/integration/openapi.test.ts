/**
 * The OpenAPI 3.1 document of the push/admin API (src/api/openapi.ts, issue 16 item 2):
 * valid by a real OpenAPI validator, served at GET /v1/openapi.json, listing exactly the
 * routes and methods the server answers, and describing the answers the server really gives.
 */
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/api/openapi.js';
import { Cmd } from '../support/cmds.js';
import { type Running, startGateway } from '../support/gateway-fixture.js';
import { startBackend, type TestBackend } from '../support/processes.js';
import { loginAs } from '../support/push-api.js';
import type { RawClient } from '../support/raw-client.js';

const TOKEN = 'openapi-test-token';
const MAX_BODY = 4_096;

interface Operation {
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: { $ref?: string } }> }>;
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, object>;
    responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }>;
  };
}
const doc = openApiDocument() as unknown as Doc;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

let backend: TestBackend;
let gw: Running;
let alice: RawClient;

beforeAll(async () => {
  backend = await startBackend();
  gw = await startGateway(backend.url, { api: { token: TOKEN, maxBodyBytes: MAX_BODY } });
  alice = await loginAs(gw, 'alice');
});

afterAll(async () => {
  alice?.close();
  await gw?.gateway.stop();
  await backend?.stop();
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${TOKEN}`, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' || body instanceof Buffer ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${gw.apiUrl}${path}`, init);
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return {
    status: res.status,
    type,
    allow: res.headers.get('allow'),
    text,
    json: type.includes('json') ? JSON.parse(text) : undefined,
  };
}

describe('the OpenAPI document', () => {
  it('is valid OpenAPI 3.1 by @seriousme/openapi-schema-validator (which refuses a broken copy)', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');

    const broken = structuredClone(doc);
    (broken.paths['/v1/kick'].post as unknown as Record<string, unknown>).responses = 'none';
    expect((await new Validator().validate(broken as unknown as Record<string, unknown>)).valid).toBe(false);
  });

  it('is served at GET /v1/openapi.json behind the token', async () => {
    const served = await call('GET', '/v1/openapi.json');
    expect(served.status).toBe(200);
    expect(served.json).toEqual(JSON.parse(JSON.stringify(doc)));
    const anonymous = await fetch(`${gw.apiUrl}/v1/openapi.json`);
    expect(anonymous.status).toBe(401);
  });
});

describe('the routes of the document are the routes of the server', () => {
  /** The server's route patterns, read from the routes table of src/api/api-server.ts. */
  const source = readFileSync(new URL('../../src/api/api-server.ts', import.meta.url), 'utf8');
  const patterns = [...source.matchAll(/pattern: \/(.+?)\/,/g)].map((m) => new RegExp(m[1]));
  const sample = (template: string) => template.replace(/\{[^}]+\}/g, 'x');

  it('every server pattern is one path of the document, and every path one pattern', () => {
    expect(patterns.length).toBeGreaterThanOrEqual(11);
    for (const pattern of patterns) {
      expect(
        Object.keys(doc.paths).filter((p) => pattern.test(sample(p))),
        String(pattern),
      ).toHaveLength(1);
    }
    for (const path of Object.keys(doc.paths)) {
      expect(
        patterns.filter((p) => p.test(sample(path))),
        path,
      ).toHaveLength(1);
    }
  });

  it("every path's methods are those the server allows (its 405 answer's allow header)", async () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const refused = await call('OPTIONS', sample(path));
      expect(refused.status, path).toBe(405);
      const documented = Object.keys(item)
        .filter((k) => METHODS.includes(k))
        .map((m) => m.toUpperCase());
      // HEAD is answered wherever GET is (the document's description says so).
      const allowed = (refused.allow ?? '').split(', ').filter((m) => m !== 'HEAD');
      expect(allowed.sort(), path).toEqual(documented.sort());
      expect((refused.allow ?? '').includes('HEAD'), path).toBe(documented.includes('GET'));
    }
    // A path the document lacks is one the server does not answer.
    expect((await call('GET', '/v1/pushes')).status).toBe(404);
  });
});

describe('real answers match the response schemas of the document', () => {
  const ajv = new Ajv2020({ strict: true, allErrors: true, formats: { 'date-time': true } });
  for (const [name, schema] of Object.entries(doc.components.schemas)) ajv.addSchema(schema, name);

  /** The schema of a JSON answer of `method path` with `status` (its component's name), or null when not JSON. */
  function schemaFor(
    path: string,
    method: string,
    status: number,
  ): { name: string; validate: ValidateFunction } | null {
    const operation = doc.paths[path]?.[method.toLowerCase()];
    // A method the path lacks: 405, described once in components.responses.
    if (status === 405) expect(operation, `${method} ${path} is not in the document`).toBeUndefined();
    else expect(operation, `${method} ${path} in the document`).toBeDefined();
    let response = status === 405 ? { $ref: 'MethodNotAllowed' } : operation!.responses[String(status)];
    expect(response, `${method} ${path} ${status} in the document`).toBeDefined();
    if (response.$ref !== undefined) response = doc.components.responses[response.$ref.split('/').pop()!];
    const schema = response.content?.['application/json']?.schema;
    if (schema === undefined) return null;
    const name = schema.$ref?.split('/').pop();
    return name === undefined
      ? { name: 'inline', validate: ajv.compile(schema) }
      : { name, validate: ajv.getSchema(name)! };
  }

  const checked = new Set<string>();
  async function expectAnswer(
    path: string,
    status: number,
    sent: { method: string; url?: string; body?: unknown; headers?: Record<string, string> },
  ) {
    const got = await call(sent.method, sent.url ?? path, sent.body, sent.headers);
    expect(got.status, `${sent.method} ${sent.url ?? path}: ${got.text}`).toBe(status);
    const schema = schemaFor(path, sent.method, status);
    if (schema === null) {
      // Not JSON (the metrics text, the console's files): one of the documented media types.
      const content = doc.paths[path][sent.method.toLowerCase()].responses[String(status)].content ?? {};
      expect(Object.keys(content), `${sent.method} ${path}: ${got.type}`).toContain(got.type.split(';')[0]);
    } else {
      const { name, validate } = schema;
      expect(got.type).toBe('application/json');
      expect(
        validate(got.json),
        `${sent.method} ${path} ${status} as ${name}: ${ajv.errorsText(validate.errors)}`,
      ).toBe(true);
    }
    checked.add(`${sent.method.toLowerCase()} ${path} ${status}`);
    return got.json;
  }

  it('for every operation, its success and its refusals', async () => {
    const push = await expectAnswer('/v1/push', 200, {
      method: 'POST',
      body: { players: ['alice', 'nobody'], cmd: 5001, data: 'aGk=' },
    });
    expect(push).toEqual({
      delivered: 1,
      cached: 0,
      dropped: 1,
      results: { alice: 'delivered', nobody: 'dropped' },
    });
    await expectAnswer('/v1/push', 200, {
      method: 'POST',
      url: '/v1/push?players=alice&cmd=5001',
      body: Buffer.from([1, 2, 3]),
      headers: { 'content-type': 'application/octet-stream' },
    });
    await expectAnswer('/v1/push', 400, { method: 'POST', body: { players: [], cmd: 1 } });
    await expectAnswer('/v1/push', 401, {
      method: 'POST',
      body: {},
      headers: { authorization: 'Bearer wrong' },
    });
    await expectAnswer('/v1/push', 405, { method: 'GET' });
    await expectAnswer('/v1/players/{id}', 405, { method: 'DELETE', url: '/v1/players/alice' });
    await expectAnswer('/v1/push', 413, {
      method: 'POST',
      body: { players: ['a'], cmd: 1, data: 'A'.repeat(MAX_BODY) },
    });

    expect(await expectAnswer('/v1/broadcast', 200, { method: 'POST', body: { cmd: 5003 } })).toEqual({
      delivered: 1,
    });
    await expectAnswer('/v1/broadcast', 400, { method: 'POST', body: { cmd: -1 } });

    const members = '/v1/groups/{group}/members';
    expect(
      await expectAnswer(members, 200, {
        method: 'PUT',
        url: '/v1/groups/g1/members',
        body: { players: ['alice'] },
      }),
    ).toEqual({ members: 1 });
    await expectAnswer(members, 400, {
      method: 'PUT',
      url: '/v1/groups/g1/members',
      body: { players: ['a,b'] },
    });
    expect(await expectAnswer(members, 200, { method: 'GET', url: '/v1/groups/g1/members' })).toEqual({
      group: 'g1',
      count: 1,
      members: ['alice'],
    });
    await expectAnswer(members, 400, { method: 'GET', url: '/v1/groups/a%2Cb/members' });
    expect(
      await expectAnswer('/v1/groups/{group}/push', 200, {
        method: 'POST',
        url: '/v1/groups/g1/push',
        body: { cmd: 5001 },
      }),
    ).toEqual({ delivered: 1 });
    await expectAnswer('/v1/groups/{group}/push', 400, {
      method: 'POST',
      url: '/v1/groups/g1/push',
      body: 'not json',
    });
    expect(
      await expectAnswer(members, 200, {
        method: 'DELETE',
        url: '/v1/groups/g1/members',
        body: { players: ['alice'] },
      }),
    ).toEqual({ members: 0 });

    // Four pushes reached alice: the JSON one, the octet-stream one, the broadcast, the group push.
    const player = await expectAnswer('/v1/players/{id}', 200, { method: 'GET', url: '/v1/players/alice' });
    expect(player).toMatchObject({ playerId: 'alice', online: true, node: 'test-node', pushSeq: 4 });
    await expectAnswer('/v1/players/{id}', 404, { method: 'GET', url: '/v1/players/nobody' });
    await expectAnswer('/v1/players/{id}', 400, { method: 'GET', url: '/v1/players/a%2Cb' });

    const stats = await expectAnswer('/v1/stats', 200, { method: 'GET' });
    expect(stats).toMatchObject({ node: 'test-node', players: { online: 1 } });
    await expectAnswer('/v1/stats', 401, { method: 'GET', headers: { authorization: '' } });
    const cmds = await expectAnswer('/v1/stats/cmds', 200, { method: 'GET' });
    expect(cmds.cmds).toContainEqual(expect.objectContaining({ cmd: Cmd.LOGIN, target: 'game', success: 1 }));
    const targets = await expectAnswer('/v1/stats/targets', 200, { method: 'GET' });
    expect(targets.targets).toMatchObject([{ name: 'game', endpoints: [{ circuit: 'closed' }] }]);
    expect(await expectAnswer('/v1/nodes', 200, { method: 'GET' })).toMatchObject({
      engine: 'local',
      nodes: [{ id: 'test-node', self: true }],
    });
    await expectAnswer('/v1/nodes', 401, { method: 'GET', headers: { authorization: '' } });
    // The console's static files need no token.
    await expectAnswer('/console', 200, { method: 'GET', headers: { authorization: '' } });
    for (const file of ['console.js', 'console.css', 'index.html']) {
      await expectAnswer('/console/{file}', 200, {
        method: 'GET',
        url: `/console/${file}`,
        headers: { authorization: '' },
      });
    }
    await expectAnswer('/console/{file}', 404, {
      method: 'GET',
      url: '/console/nope.js',
      headers: { authorization: '' },
    });

    await expectAnswer('/v1/openapi.json', 200, { method: 'GET' });
    await expectAnswer('/healthz', 200, { method: 'GET', headers: { authorization: '' } });
    await expectAnswer('/healthz', 405, { method: 'POST', body: {} });
    await expectAnswer('/readyz', 200, { method: 'GET', headers: { authorization: '' } });
    await expectAnswer('/metrics', 200, { method: 'GET' });

    expect(
      await expectAnswer('/v1/kick', 200, { method: 'POST', body: { players: ['alice'], reason: 'done' } }),
    ).toEqual({ kicked: 1 });
    await expectAnswer('/v1/kick', 400, { method: 'POST', body: { players: ['alice'], why: 'x' } });

    // Every operation of the document was answered successfully at least once.
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item).filter((k) => METHODS.includes(k))) {
        expect(checked.has(`${method} ${path} 200`), `${method} ${path} 200`).toBe(true);
      }
    }
  });

  it('a schema of the document refuses an answer the server does not give (the check bites)', () => {
    expect(ajv.getSchema('PushAnswer')!({ delivered: 1, cached: 0 })).toBe(false);
    expect(
      ajv.getSchema('Player')!({
        playerId: 'a',
        online: true,
        node: null,
        sessionId: null,
        lastActiveAt: 'x',
        offlineQueued: 0,
        pushSeq: 0,
        extra: 1,
      }),
    ).toBe(false);
    expect(ajv.getSchema('Error')!({ error: 'nope', message: '' })).toBe(false);
  });
});
