/**
 * What protects the service, proven on the real services: admin auth, the signup rate limit,
 * headers and error bodies, the duplicate-signup switch, and encrypted Temporal payloads with
 * the codec endpoint and key rotation.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { temporal as proto } from '@temporalio/proto';
import type { Payload } from '@temporalio/common';
import { createSignupPublisher, type SignupPublisher } from '../../src/messaging/signup-publisher';
import { hashPassword } from '../../src/api/password';
import { createTemporalClient } from '../../src/temporal/client';
import { onboardingWorkflowId } from '../../src/temporal/onboarding-runs';
import type { Config, Env } from '../../src/config';
import { signupBody } from '../support/fixtures';
import { type Pipeline, request, startApi, startPipeline } from '../support/pipeline';
import { untilOnboarded } from '../support/users';
import { messageCount } from '../harness/queues';
import { deleteTopology, eventually, silentLogger, TEST_ADMIN_TOKEN, TEST_PAYLOAD_KEYS, testConfig, uniqueSuffix } from '../support/stack';

let p: Pipeline;
const CODEC_TOKEN = randomBytes(32).toString('base64url');

beforeAll(async () => {
  p = await startPipeline({ CODEC_API_TOKEN: CODEC_TOKEN });
});
afterAll(() => p?.stop());

const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const signup = (body: unknown) => request(p.baseUrl, 'POST', '/signup', body);
const getUser = (id: string) => request(p.baseUrl, 'GET', `/users/${id}`);

const completed = (id: string) => untilOnboarded(p.baseUrl, id);

/**
 * An extra API on the pipeline's database and Temporal, with settings of its own and a queue
 * that no bridge consumes: its depth is exactly what this API published.
 */
async function extraApi(env: Env, deps: { hashPassword?: (password: string) => Promise<string> } = {}) {
  const config: Config = testConfig(uniqueSuffix(), { DATABASE_URL: p.config.postgres.url, ...env });
  const publisher: SignupPublisher = await createSignupPublisher({ topology: config.amqp, url: config.amqp.url, logger: silentLogger });
  const api = await startApi(config, { pool: p.pool, publisher, temporal: p.temporal, ...deps });
  return {
    config,
    baseUrl: api.baseUrl,
    adminBaseUrl: api.adminBaseUrl,
    published: () => messageCount(config.amqp.url, config.amqp.queue),
    async close() {
      await api.close();
      await publisher.close();
      await deleteTopology(config);
    },
  };
}

describe('PUT /users/{user_id} (admin listener) needs the admin token', () => {
  let userId: string;
  beforeAll(async () => {
    userId = (await signup(signupBody())).body.user_id;
    await completed(userId);
  });

  it('answers 401 with a Bearer challenge without a token or with a malformed header, before looking at anything else', async () => {
    const refused: Record<string, string>[] = [{}, { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` }, { authorization: 'Bearer' }, { authorization: 'Bearer a b' }];
    for (const headers of refused) {
      const res = await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, { verification_state: 'VERIFIED' }, headers);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    }
    // Neither a bad id nor a broken body gets a more telling answer than 401.
    expect((await request(p.adminBaseUrl, 'PUT', '/users/not-a-uuid')).status).toBe(401);
    expect((await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, '{"verification_state": ')).status).toBe(401);
    expect((await getUser(userId)).body.verification_state).toBe('PENDING');
  });

  it('answers 403 for a wrong token, 200 for the right one', async () => {
    const wrong = await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, { verification_state: 'VERIFIED' }, { authorization: `Bearer ${TEST_ADMIN_TOKEN}x` });
    expect(wrong.status).toBe(403);
    // The codec token opens the codec endpoint only.
    expect((await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, undefined, { authorization: `Bearer ${CODEC_TOKEN}` })).status).toBe(403);
    expect((await getUser(userId)).body.verification_state).toBe('PENDING');

    const ok = await request(p.adminBaseUrl, 'PUT', `/users/${userId}`, { verification_state: 'VERIFIED' }, { authorization: `bearer ${TEST_ADMIN_TOKEN}` });
    expect(ok.status).toBe(200);
    expect((await getUser(userId)).body.verification_state).toBe('VERIFIED');
  });

  it('refuses everyone when no admin token is configured', async () => {
    const api = await extraApi({ ADMIN_API_TOKEN: '' });
    try {
      expect(api.config.security.adminToken).toBeUndefined();
      expect((await request(api.adminBaseUrl, 'PUT', `/users/${userId}`)).status).toBe(401);
      expect((await request(api.adminBaseUrl, 'PUT', `/users/${userId}`, undefined, admin)).status).toBe(403);
      expect((await request(api.adminBaseUrl, 'POST', '/codec/decode', { payloads: [] }, admin)).status).toBe(403);
    } finally {
      await api.close();
    }
  });
});

describe('POST /signup rate limit', () => {
  it('answers 429 problem+json with Retry-After past the limit, before hashing or publishing, whatever X-Forwarded-For says', async () => {
    // The counters are shared through the database with the pipeline's own API, whose signups from
    // this same address count too: start from none.
    await p.pool.query('DELETE FROM rate_limit_counters');
    let hashes = 0;
    const api = await extraApi({ SIGNUP_RATE_LIMIT: '3', SIGNUP_RATE_LIMIT_WINDOW_MS: '60000' }, {
      hashPassword: (pw) => {
        hashes++;
        return hashPassword(pw);
      },
    });
    try {
      const post = (headers: Record<string, string> = {}) => request(api.baseUrl, 'POST', '/signup', signupBody(), headers);
      for (let i = 0; i < 3; i++) expect((await post()).status).toBe(202);
      const limited = await post();
      expect(limited.status).toBe(429);
      expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
      expect(limited.body).toMatchObject({ status: 429, type: '/problems/too-many-requests' });
      expect(limited.headers.get('ratelimit-policy')).toMatch(/q=3; w=60/);
      // No trusted proxy: a forged header is not a new client.
      expect((await post({ 'x-forwarded-for': '203.0.113.7' })).status).toBe(429);
      expect(hashes).toBe(3);
      expect(await api.published()).toBe(3);
      // Other routes are not limited.
      expect((await request(api.baseUrl, 'GET', `/users/${randomUUID()}`)).status).toBe(404);
    } finally {
      await api.close();
    }
  });
});

describe('headers and error bodies', () => {
  it('sends helmet’s security headers and no X-Powered-By', async () => {
    const res = await getUser(randomUUID());
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('answers an internal error with a bare 500: no message, no stack', async () => {
    const api = await extraApi({}, {
      hashPassword: async () => {
        throw new Error('argon2 exploded at /srv/internal/secret-path.ts:42 with SELECT * FROM users');
      },
    });
    try {
      const res = await fetch(`${api.baseUrl}/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(signupBody()),
      });
      const text = await res.text();
      expect(res.status).toBe(500);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(Object.keys(JSON.parse(text)).sort()).toEqual(['request_id', 'status', 'title', 'type']);
      expect(JSON.parse(text)).toMatchObject({ type: 'about:blank', title: 'Internal Server Error', status: 500 });
      expect(text).not.toMatch(/exploded|secret-path|SELECT|stack|\.ts\b/);
      expect(await api.published()).toBe(0);
    } finally {
      await api.close();
    }
  });

  it('answers a malformed path escape with its 4xx status and no internal message', async () => {
    const res = await request(p.baseUrl, 'GET', '/users/%E0%A4%A');
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).not.toMatch(/URIError|decode|stack/i);
  });
});

describe('DUPLICATE_SIGNUP_RESPONSE (the whole enumeration chain: test/integration/duplicate-signup.test.ts)', () => {
  it('conflict: 409 reveals that the e-mail is registered, and nothing of its user', async () => {
    const api = await extraApi({ DUPLICATE_SIGNUP_RESPONSE: 'conflict' });
    try {
      const body = signupBody();
      const existingId = (await signup(body)).body.user_id as string;
      await completed(existingId);
      const res = await request(api.baseUrl, 'POST', '/signup', body);
      expect(res.status).toBe(409);
      expect(Object.keys(res.body).sort()).toEqual(['detail', 'request_id', 'status', 'title', 'type']);
      expect(JSON.stringify(res.body)).not.toContain(existingId);
      expect(await api.published()).toBe(0);
    } finally {
      await api.close();
    }
  });

  it('accepted (default): a duplicate gets a new signup’s answer and goes its way: hashed, published, read as queued', async () => {
    let hashes = 0;
    const api = await extraApi({}, {
      hashPassword: (pw) => {
        hashes++;
        return hashPassword(pw);
      },
    });
    try {
      expect(api.config.security.duplicateSignupResponse).toBe('accepted');
      const registered = signupBody();
      const existingId = (await signup(registered)).body.user_id as string;
      await completed(existingId);

      const duplicate = await request(api.baseUrl, 'POST', '/signup', { ...registered, email: (registered.email as string).toUpperCase(), password: 'another password' });
      const fresh = await request(api.baseUrl, 'POST', '/signup', signupBody());
      expect(hashes).toBe(2);
      for (const res of [duplicate, fresh]) {
        expect(res.status).toBe(202);
        expect(res.headers.get('content-type')).toBe(fresh.headers.get('content-type'));
        expect(res.headers.get('location')).toBe(`/users/${res.body.user_id}`);
        expect(res.body).toEqual({ status: 'SUCCESS', message: fresh.body.message, user_id: expect.any(String), verification: 'PENDING' });
      }
      expect(duplicate.body.user_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(duplicate.body.user_id).not.toBe(existingId);

      // Both published: the API does the same work for both; the worker tells them apart.
      await eventually(async () => ((await api.published()) === 2 ? true : undefined), 5_000, 'both signups to be queued');

      // GET cannot tell the decoy from a signup that is still queued.
      const decoyView = await request(api.baseUrl, 'GET', `/users/${duplicate.body.user_id}`);
      const queuedView = await request(api.baseUrl, 'GET', `/users/${fresh.body.user_id}`);
      expect(decoyView.status).toBe(200);
      expect(decoyView.body).toEqual({ ...queuedView.body, user_id: duplicate.body.user_id, created_at: expect.any(String) });
      expect(queuedView.body).toEqual({ user_id: fresh.body.user_id, verification_state: 'PENDING', onboarding_state: 'QUEUED', created_at: expect.any(String) });
    } finally {
      await api.close();
    }
  });
});

describe('Temporal payloads are encrypted', () => {
  type JsonPayload = { metadata: Record<string, string>; data: string };
  const toJson = (payload: Payload): JsonPayload => ({
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
    data: Buffer.from(payload.data ?? []).toString('base64'),
  });
  const fromJsonData = (payload: JsonPayload) => JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8'));

  async function rawHistory(userId: string) {
    // The dev server's own client has no codec: this is what Temporal stores and shows.
    const history = await p.temporal.client.workflow.getHandle(onboardingWorkflowId(userId)).fetchHistory();
    return { history, bytes: Buffer.from(proto.api.history.v1.History.encode(history).finish()).toString('latin1') };
  }

  function startInput(history: proto.api.history.v1.IHistory): Payload[] {
    const started = history.events?.find((e) => e.workflowExecutionStartedEventAttributes)?.workflowExecutionStartedEventAttributes;
    return (started?.input?.payloads ?? []) as Payload[];
  }

  const codec = (baseUrl: string, op: 'encode' | 'decode', payloads: JsonPayload[], headers: Record<string, string> = admin) =>
    request(baseUrl, 'POST', `/codec/${op}`, { payloads }, { 'x-namespace': 'default', ...headers });

  let userId: string;
  let body: Record<string, unknown>;
  beforeAll(async () => {
    body = signupBody({ first_name: `Grace${uniqueSuffix()}`, last_name: `Hopper${uniqueSuffix()}` });
    userId = (await signup(body)).body.user_id;
    await completed(userId);
    // The row says COMPLETED a moment before the run records its (encrypted) result.
    const handle = p.temporal.client.workflow.getHandle(onboardingWorkflowId(userId));
    await eventually(async () => ((await handle.describe()).status.name === 'COMPLETED' ? true : undefined), 30_000, 'the run to complete');
  });

  it('raw history holds no e-mail, name or hash; every payload is binary/encrypted with a key id', async () => {
    const { history, bytes } = await rawHistory(userId);
    const { rows } = await p.pool.query('SELECT password_hash FROM users WHERE user_id = $1', [userId]);
    for (const secret of [body.email, body.first_name, body.last_name, rows[0].password_hash, body.password]) {
      expect(bytes).not.toContain(secret);
      expect(bytes).not.toContain(Buffer.from(secret as string).toString('base64'));
    }
    const input = startInput(history);
    expect(input).toHaveLength(1);
    expect(Buffer.from(input[0].metadata!.encoding!).toString()).toBe('binary/encrypted');
    expect(Buffer.from(input[0].metadata!['encryption-key-id']!).toString()).toBe('test1');
    // The completed result is encrypted too.
    const completedEvent = history.events?.find((e) => e.workflowExecutionCompletedEventAttributes);
    const result = completedEvent?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
    expect(Buffer.from(result!.metadata!.encoding!).toString()).toBe('binary/encrypted');
  });

  it('decodes through /codec/decode for an operator with the admin or the codec token', async () => {
    const input = startInput((await rawHistory(userId)).history).map(toJson);
    for (const token of [TEST_ADMIN_TOKEN, CODEC_TOKEN]) {
      const res = await codec(p.adminBaseUrl, 'decode', input, { authorization: `Bearer ${token}`, origin: 'http://localhost:8233' });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
      expect(Buffer.from(res.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('json/plain');
      expect(fromJsonData(res.body.payloads[0])).toMatchObject({ signup: { user_id: userId, email: body.email, first_name: body.first_name } });
    }
    // encode → decode round trip, as the UI does for inputs it sends.
    const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"x":1}').toString('base64') };
    const encoded = await codec(p.adminBaseUrl, 'encode', [plain]);
    expect(encoded.status).toBe(200);
    expect(Buffer.from(encoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    expect((await codec(p.adminBaseUrl, 'decode', encoded.body.payloads)).body.payloads).toEqual([plain]);
  });

  it('works as the codec server of the real Temporal CLI (temporal workflow show --codec-endpoint)', async () => {
    // (Without a token the endpoint answers 401, tested below, and the CLI retries until its deadline.)
    const { stdout } = await promisify(execFile)(process.env.TEMPORAL_CLI!, [
      'workflow', 'show', '--workflow-id', onboardingWorkflowId(userId), '--address', p.temporal.address, '--output', 'json',
      '--codec-endpoint', `${p.adminBaseUrl}/codec`, '--codec-auth', `Bearer ${CODEC_TOKEN}`,
    ]);
    // JSON output keeps payloads in proto3 JSON, decoded by our endpoint: json/plain, not binary/encrypted.
    const started = JSON.parse(stdout).events[0].workflowExecutionStartedEventAttributes;
    const [input] = started.input.payloads as JsonPayload[];
    expect(Buffer.from(input.metadata.encoding, 'base64').toString()).toBe('json/plain');
    expect(fromJsonData(input)).toMatchObject({ signup: { email: body.email, first_name: body.first_name } });
  });

  it('keeps the codec closed without a token, and answers CORS preflights for the UI origins only', async () => {
    const input = startInput((await rawHistory(userId)).history).map(toJson);
    const anonymous = await codec(p.adminBaseUrl, 'decode', input, { origin: 'http://127.0.0.1:8233' });
    expect(anonymous.status).toBe(401);
    expect(JSON.stringify(anonymous.body)).not.toContain(body.email as string);
    expect((await codec(p.adminBaseUrl, 'decode', input, { authorization: `Bearer ${TEST_ADMIN_TOKEN}0` })).status).toBe(403);
    expect((await request(p.adminBaseUrl, 'POST', '/codec/decode', 'payloads', { ...admin, 'content-type': 'text/plain' })).status).toBe(415);
    expect((await codec(p.adminBaseUrl, 'decode', [{ metadata: {}, data: '***' } as JsonPayload])).status).toBe(400);

    const preflight = (origin: string) =>
      fetch(`${p.adminBaseUrl}/codec/decode`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,x-namespace' },
      });
    const allowed = await preflight('http://127.0.0.1:8233');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const evil = await preflight('https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('shows a payload in clear as it is, and says why a payload cannot be decrypted by a fixed code only', async () => {
    const [encrypted] = startInput((await rawHistory(userId)).history).map(toJson);
    // Search attributes and headers are in clear by design: the endpoint only displays, as the UI does.
    const plain = { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"COMPLETED"').toString('base64') };
    expect((await codec(p.adminBaseUrl, 'decode', [plain])).body.payloads).toEqual([plain]);
    // A tampered ciphertext: a fixed code and text, never the codec's own words (they name key ids).
    const data = Buffer.from(encrypted.data, 'base64');
    data[data.length - 1] ^= 1;
    const tampered = await codec(p.adminBaseUrl, 'decode', [{ ...encrypted, data: data.toString('base64') }]);
    expect(tampered.status).toBe(400);
    expect(tampered.body.errors).toEqual([{ field: 'payloads', code: 'authentication_failed', message: expect.any(String) }]);
    expect(JSON.stringify(tampered.body)).not.toContain('test1');
  });

  it('the worker refuses a workflow input written in clear (by someone with Temporal access but not the key)', async () => {
    const forgedId = randomUUID();
    // The dev server's own client has no codec: its payloads are json/plain.
    const handle = await p.temporal.client.workflow.start('onboardUser', {
      taskQueue: p.config.temporal.taskQueue,
      workflowId: onboardingWorkflowId(forgedId),
      args: [{ signup: { ...signupBody(), user_id: forgedId, password_hash: 'x', requested_at: new Date().toISOString() }, request_id: 'forged' }],
    });
    try {
      const failure = await eventually(async () => {
        const history = await handle.fetchHistory();
        return history.events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes ?? undefined;
      }, 30_000, 'the worker to fail the forged task');
      expect(failure.failure?.message).toMatch(/not encrypted/);
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect((await p.pool.query('SELECT 1 FROM users WHERE user_id = $1', [forgedId])).rowCount).toBe(0);
    } finally {
      await handle.terminate('test: forged input').catch(() => undefined);
    }
  });

  it('names the codec’s own body limit (4 MiB) in its 413, not the API’s 16 KiB', async () => {
    const big = { payloads: [{ metadata: {}, data: 'A'.repeat(4 * 1024 * 1024) }] };
    const res = await request(p.adminBaseUrl, 'POST', '/codec/decode', big, admin);
    expect(res.status).toBe(413);
    expect(res.body.detail).toBe(`request body larger than ${4 * 1024 * 1024} bytes`);
    // Under the limit but over 16 KiB is read and answered on its merits.
    const mid = await request(p.adminBaseUrl, 'POST', '/codec/encode', { payloads: [{ metadata: {}, data: 'A'.repeat(64 * 1024) }] }, admin);
    expect(mid.status).toBe(200);
  });

  it('still decodes a run recorded before a key rotation, and encrypts new runs with the new key', async () => {
    const newKeys = `test2:${randomBytes(32).toString('base64')},${TEST_PAYLOAD_KEYS}`;
    const rotated = await extraApi({ PAYLOAD_ENCRYPTION_KEYS: newKeys });
    const newKeyOnly = await extraApi({ PAYLOAD_ENCRYPTION_KEYS: newKeys.split(',')[0] });
    try {
      const input = startInput((await rawHistory(userId)).history).map(toJson);
      expect(Buffer.from(input[0].metadata['encryption-key-id'], 'base64').toString()).toBe('test1');
      const res = await codec(rotated.adminBaseUrl, 'decode', input);
      expect(res.status).toBe(200);
      expect(fromJsonData(res.body.payloads[0])).toMatchObject({ signup: { email: body.email } });
      // A client with the rotated keys reads the old run's result as well.
      const { client } = createTemporalClient(p.temporal.connection, rotated.config);
      await expect(client.workflow.getHandle(onboardingWorkflowId(userId)).result()).resolves.toMatchObject({ user_id: userId });
      // New payloads carry the new key id.
      const encoded = await codec(rotated.adminBaseUrl, 'encode', [{ metadata: {}, data: Buffer.from('{}').toString('base64') }]);
      expect(Buffer.from(encoded.body.payloads[0].metadata['encryption-key-id'], 'base64').toString()).toBe('test2');
      // Dropping the old key too early is loud, not silent.
      expect((await codec(newKeyOnly.adminBaseUrl, 'decode', input)).status).toBe(400);
    } finally {
      await rotated.close();
      await newKeyOnly.close();
    }
  });
});
