// Fuzz through the edge, against the DEPLOYED `forum` stack (issue 16 item 7): FUZZ_REQUESTS (default 1,100)
// malformed requests EACH at the forum API, the ipblock webhook and the autoscaler webhook, through NGINX, as raw
// bytes: bad JSON, wrong types, huge and over-limit bodies, odd content types and framings, path tricks (../,
// %2e%2e, //, overlong, NUL), odd methods and versions, with no, invalid and valid tokens. Nothing may answer 5xx,
// no task of the services on the path may be replaced (a crash), and the stack must answer normally afterwards.
//
// Shared stack, so the fuzz changes nothing it must not: no login with a well-formed body (failed logins get the
// test host blocked), valid-token webhook requests that could block an address or reach a scaling decision are
// refused by construction or defused (test/edge/lib/fuzz-targets.ts). It does register one user and start one thread.
// The raw requests go over TLS when EDGE_URL is https (the edge's certificate verified as fetch does: the stack's CA
// through NODE_EXTRA_CA_CERTS), HTTP/1.1 without ALPN.
// Env: EDGE_URL (default https://127.0.0.1:443), STACK_NAME (forum), FUZZ_SEED (default random; printed),
//      FUZZ_REQUESTS (per target, default 1100), FUZZ_CONCURRENCY (8),
//      IPBLOCK_TOKEN_FILE / AUTOSCALER_TOKEN_FILE (default secrets/<name> if valid, else read from the running task).
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Prng, fuzzSeed, rawHead, rawRequest, type RawResponse } from '@forum/test-support';
import { Client, EDGE_URL, STACK, docker, until, urlPort } from '../e2e/support.js';
import { REPO } from './lib/harness.js';
import { apiRequest, autoscalerRequest, ipblockRequest, type FuzzContext, type FuzzRequest, type Target } from './lib/fuzz-targets.js';

const execFileP = promisify(execFile);
const SEED = fuzzSeed();
const PER_TARGET = Number(process.env.FUZZ_REQUESTS ?? 1100);
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 8);
const TARGETS: Target[] = ['api', 'ipblock', 'autoscaler'];
// the services a request passes through; a replaced task means a crash (or a deploy during the run: rerun then)
const WATCHED = ['nginx', 'api', 'ipblock', 'autoscaler'];
const edge = new URL(EDGE_URL);
const HOST = edge.hostname;
const REPORT = join(REPO, 'reports', 'edge-fuzz.jsonl');
const PORT = urlPort(edge);
// SNI for a name (an address gets none, as browsers do)
const TLS = edge.protocol === 'https:' && { servername: isIP(HOST) ? undefined : HOST };

interface Outcome {
  req: FuzzRequest;
  index: number;
  /** ms after the run started */
  at: number;
  res?: RawResponse;
  error?: string;
}
const results: Outcome[] = [];
let retried = 0;
let ctx: FuzzContext;
let tasksBefore: Record<string, string[]>;
let fuzzStarted = '';
let runMs = 0;
const user = { name: `fuzz${randomBytes(4).toString('hex')}`, password: `Pw-${randomBytes(9).toString('base64url')}` };

/** Running task ids per watched service: a crash replaces one; a redeploy that changes no spec keeps them. */
async function tasks(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const s of WATCHED) {
    const ids = await docker('service', 'ps', '-q', '--no-trunc', '--filter', 'desired-state=running', `${STACK}_${s}`);
    out[s] = ids.split('\n').filter(Boolean).sort();
  }
  return out;
}

async function token(name: 'ipblock_token' | 'autoscaler_token', service: string, check: string): Promise<string> {
  const envFile = process.env[`${name.toUpperCase()}_FILE`];
  const valid = async (t: string) => (await fetch(`${EDGE_URL}${check}`, { headers: { authorization: `Bearer ${t}` } })).status === 200;
  if (envFile) return readFileSync(envFile, 'utf8').trim();
  const file = join(REPO, 'secrets', name);
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (await valid(t)) return t;
  }
  // this checkout did not deploy the stack: the value the running task was given
  const [container] = (await docker('ps', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_${service}`)).split('\n').filter(Boolean);
  assert.ok(container, `no running ${STACK}_${service} task to read ${name} from`);
  const t = (await docker('exec', container, 'cat', `/run/secrets/${name}`)).trim();
  assert.ok(await valid(t), `${name} of the running task is refused at ${check}`);
  return t;
}

before(async () => {
  await until('the edge answers (nginx-health and the api health check)', async () => {
    const [n, h] = await Promise.all([fetch(`${EDGE_URL}/nginx-health`), fetch(`${EDGE_URL}/healthcheck/`)]);
    return n.status === 200 && h.status === 200;
  });
  const tokens = {
    ipblock: await token('ipblock_token', 'ipblock', '/ops/ipblock/v1/blocks'),
    autoscaler: await token('autoscaler_token', 'autoscaler', '/ops/autoscaler/v1/services'),
  };
  // a signed-in user with a thread, so authenticated paths and real ids are fuzzed too
  const c = new Client();
  await c.get('/api/auth/');
  // a stack that was just deployed may answer 503 for a while (its database settling)
  const reg = await until('registration', async () => {
    const r = await c.post('/api/users/', { username: user.name, email: `${user.name}@example.com`, password: user.password });
    if (r.status === 503) return undefined;
    assert.equal(r.status, 200, r.text);
    return r;
  });
  const editor = await c.get('/api/threads/editor/');
  const category = (editor.json as Array<{ id: number; post: unknown }>).find((x) => x.post);
  assert.ok(category, editor.text);
  const thread = await c.post('/api/threads/', {
    title: `Edge fuzz target ${user.name}`,
    post: 'The edge fuzz sends malformed requests at this thread.',
    category: category.id,
  });
  assert.equal(thread.status, 200, thread.text);
  const posts = await c.get(`/api/threads/${thread.json.id}/posts/`);
  const postId = Number(posts.json?.post_set?.results?.[0]?.id ?? posts.json?.results?.[0]?.id ?? thread.json.id);
  const anon = new Client();
  await anon.get('/');
  ctx = {
    host: edge.host,
    tokens,
    user: {
      cookie: [...c.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      csrf: c.cookies.get('csrftoken') ?? '',
      id: reg.json.id,
      threadId: thread.json.id,
      postId,
    },
    anonCsrf: anon.cookies.get('csrftoken') ?? '',
  };
  tasksBefore = await tasks();
  fuzzStarted = new Date(Date.now() - 1000).toISOString();
});

after(() => {
  if (!results.length) return;
  // replay: FUZZ_SEED reproduces the same request sequence (ids of the user/thread differ per run)
  process.stdout.write(
    `# edge fuzz: FUZZ_SEED=${SEED}, ${results.length} requests in ${(runMs / 1000).toFixed(1)} s, ${retried} sent again after a closed connection\n`,
  );
});

test(`When ${PER_TARGET} malformed requests each reach the API, ipblock and the autoscaler through the edge, then all are answered`, async (t) => {
  t.diagnostic(`FUZZ_SEED=${SEED} (set it to replay this run), ${PER_TARGET} requests per target, concurrency ${CONCURRENCY}`);
  const p = new Prng(SEED);
  const gens = { api: apiRequest, ipblock: ipblockRequest, autoscaler: autoscalerRequest };
  const total = PER_TARGET * TARGETS.length;
  let i = 0;
  // requests are drawn one at a time in index order (synchronously), so the sequence depends on the seed alone
  const next = (): FuzzRequest | undefined => (i < total ? gens[TARGETS[i++ % TARGETS.length]](p, ctx) : undefined);
  const started = Date.now();
  const worker = async () => {
    for (let req = next(), index = i - 1; req; req = next(), index = i - 1) {
      const at = Date.now() - started;
      // 65 s: above NGINX's proxy_read_timeout (60 s), so a hung upstream shows as NGINX's answer, not ours
      const send = () =>
        rawRequest({
          host: HOST,
          port: PORT,
          head: rawHead(req.method, req.path, req.headers, req.version),
          body: req.body,
          timeoutMs: 65_000,
          headersOnly: req.method === 'HEAD',
          tls: TLS,
        });
      try {
        results.push({ req, index, at, res: await send() });
      } catch (err) {
        // A connection the edge closed before answering anything (EPIPE/ECONNRESET while we still wrote: e.g. an NGINX
        // worker leaving after a reload) is sent once more, as HTTP clients do (RFC 9112 9.3.1); a second failure, or
        // any other one, counts.
        const first = (err as Error).message;
        const retry = /EPIPE|ECONNRESET/.test(first) && (req.body?.length ?? 0) <= OVER_LIMIT;
        if (retry) retried++;
        try {
          if (!retry) throw err;
          results.push({ req, index, at, res: await send() });
        } catch (err2) {
          results.push({ req, index, at, error: retry ? `${(err2 as Error).message} (retried after: ${first})` : first });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  runMs = Date.now() - started;
  t.diagnostic(`runtime ${(runMs / 1000).toFixed(1)} s, every request in ${REPORT}`);
  mkdirSync(dirname(REPORT), { recursive: true });
  const line = (o: Outcome) =>
    JSON.stringify({
      index: o.index,
      at: o.at,
      ms: o.res?.ms,
      target: o.req.target,
      token: o.req.token,
      defused: o.req.defused,
      kind: o.req.kind,
      method: o.req.method.slice(0, 40),
      path: o.req.path.slice(0, 300),
      headers: o.req.headers.map(([k, v]) => `${k.slice(0, 40)}: ${v.slice(0, 100)}`),
      bodyBytes: o.req.body?.length ?? 0,
      body: o.req.body?.subarray(0, 200).toString('utf8'),
      status: o.res?.status,
      error: o.error,
      answer: o.res?.body.subarray(0, 200).toString('utf8'),
    });
  writeFileSync(
    REPORT,
    results
      .sort((a, b) => a.index - b.index)
      .map(line)
      .join('\n') + '\n',
  );
  assert.equal(results.length, total);
});

/** One line per failed request, enough to find it in NGINX's log and replay it. */
function describe(o: Outcome, why: string): string {
  const r = o.req;
  const body = r.body ? `${r.body.length} B ${JSON.stringify(r.body.subarray(0, 80).toString('utf8'))}` : 'no body';
  return `${why}: ${r.method.slice(0, 20)} ${JSON.stringify(r.path.slice(0, 120))} [${r.kind}, token ${r.token}${r.defused ? ', defused' : ''}] ${body} -> ${o.res ? `${o.res.status} ${JSON.stringify(o.res.body.subarray(0, 160).toString('utf8'))}` : o.error}`;
}

/**
 * Answers that are the protocol's own and no failure of the stack: NGINX's 505 to a request whose HTTP major version
 * is not 1 (RFC 9110 15.6.6; the status exists for exactly this), and an HTTP/0.9 answer (a body without a status
 * line) to a request line that a raw CR/LF cut short, and a reset of an over-limit upload.
 */
const http09 = (o: Outcome) => !o.res && /^no HTTP status line/.test(o.error ?? '') && /[\r\n]/.test(o.req.method + o.req.path);
/** The edge closed a connection on an upload over client_max_body_size (10 MB) before we could read its 413. */
const OVER_LIMIT = 10 * 1024 * 1024;
/**
 * Each service's own JSON body limit (express.json: packages/shared/src/app.ts's default, the api's and the
 * autoscaler's bodyLimit). A body over it is refused with 413 by the service, whatever its token; a reset instead of
 * that 413 (seen once in CI: a valid-token 2.2 MB chunked POST to the autoscaler's alertmanager hook, twice in a row)
 * loses no request that could have been served, and the checks after the fuzz (no task failed, no unhandled error,
 * the stack healthy) still see a crash. The trade-off: such a reset is not investigated by this test.
 */
const APP_BODY_LIMIT: Record<Target, number> = { api: 512 * 1024, ipblock: 256 * 1024, autoscaler: 1024 * 1024 };
const refusedUpload = (o: Outcome) =>
  !o.res && /EPIPE|ECONNRESET/.test(o.error ?? '') && (o.req.body?.length ?? 0) > Math.min(OVER_LIMIT, APP_BODY_LIMIT[o.req.target]);
/**
 * A body that cannot be framed (RFC 9112 6.3: an invalid or duplicate Content-Length, Content-Length beside
 * Transfer-Encoding, a chunk size that is no number) is answered 400 and the connection closed, without reading the
 * body: there is no telling where it ends. With a body larger than the socket buffers the close is a reset, which can
 * discard that 400 on our side before it is read (seen once in 1,100 requests in CI: a 2 MB PATCH with
 * `Content-Length: abc`). Such a reset is the protocol's answer, not a request the edge left unanswered.
 */
const badFraming = (r: FuzzRequest) => {
  const lengths = r.headers.filter(([k]) => /^content-length$/i.test(k)).map(([, v]) => v.trim());
  const chunked = r.headers.some(([k]) => /^transfer-encoding$/i.test(k));
  return (
    lengths.length > 1 ||
    lengths.some((v) => !/^\d{1,15}$/.test(v)) ||
    (chunked && (lengths.length > 0 || !!r.body?.subarray(0, 4).equals(Buffer.from('zz\r\n'))))
  );
};
const resetUnframeable = (o: Outcome) => !o.res && /EPIPE|ECONNRESET/.test(o.error ?? '') && (o.req.body?.length ?? 0) > 64 * 1024 && badFraming(o.req);
/** Why a request without an answer is the protocol's doing (its histogram label), or '' when it is a failure. */
const noAnswerExcuse = (o: Outcome) =>
  http09(o) ? 'HTTP/0.9' : refusedUpload(o) ? 'reset (upload over the limit)' : resetUnframeable(o) ? 'reset (unframeable body)' : '';

const WEBHOOK_ANSWER = /"(blocks|services|decisions|blocked|unblocked)"\s*:/;

for (const target of TARGETS) {
  test(`When the ${target} target was fuzzed, then no request got a 5xx, none went unanswered, and no webhook acted without its token`, (t: TestContext) => {
    const mine = results.filter((o) => o.req.target === target);
    assert.equal(mine.length, PER_TARGET);
    const histogram: Record<string, number> = {};
    const tokens: Record<string, number> = {};
    const failures: string[] = [];
    for (const o of mine) {
      const key = o.res ? String(o.res.status) : noAnswerExcuse(o) || 'no answer';
      histogram[key] = (histogram[key] ?? 0) + 1;
      tokens[o.req.token] = (tokens[o.req.token] ?? 0) + 1;
      if (!o.res) {
        if (!noAnswerExcuse(o)) failures.push(describe(o, 'no answer'));
      } else if (o.res.status >= 500 && !(o.res.status === 505 && !/^HTTP\/1\./.test(o.req.version))) failures.push(describe(o, '5xx'));
      else {
        const text = o.res.body.toString('utf8');
        if (/^# (HELP|TYPE) /m.test(text)) failures.push(describe(o, 'metrics published through the edge'));
        if (target !== 'api' && o.req.token !== 'valid' && o.res.status < 300 && WEBHOOK_ANSWER.test(text))
          failures.push(describe(o, 'webhook answered without a valid token'));
      }
    }
    const ms = mine.filter((o) => o.res).map((o) => o.res!.ms);
    t.diagnostic(`${target}: statuses ${JSON.stringify(histogram)}`);
    t.diagnostic(`${target}: tokens ${JSON.stringify(tokens)}, defused ${mine.filter((o) => o.req.defused).length}, slowest ${Math.max(0, ...ms)} ms`);
    assert.deepEqual(failures.slice(0, 15), [], `${failures.length} bad answers of ${mine.length}`);
  });
}

test('When the fuzz is over, then no task of nginx, api, ipblock or autoscaler failed during it (no crash)', async (t) => {
  // a task that failed (non-zero exit, rejected) since the run began is a crash; one the orchestrator shut down (a
  // deploy, a scale, a drill's stop) is not, and is only reported
  const since = Date.parse(fuzzStarted);
  const failed: string[] = [];
  for (const s of WATCHED) {
    const ids = (await docker('service', 'ps', '-q', '--no-trunc', `${STACK}_${s}`)).split('\n').filter(Boolean);
    if (!ids.length) continue;
    const info = JSON.parse(await docker('inspect', '--type', 'task', ...ids)) as any[];
    for (const task of info) {
      if (
        Date.parse(task.Status?.Timestamp ?? '') < since ||
        ['running', 'new', 'pending', 'assigned', 'accepted', 'preparing', 'starting'].includes(task.Status?.State)
      )
        continue;
      const line = `${s} task ${task.ID.slice(0, 12)}: ${task.Status.State} at ${task.Status.Timestamp} ${task.Status.Err ?? ''} (exit ${task.Status.ContainerStatus?.ExitCode ?? '?'})`;
      if (['failed', 'rejected', 'orphaned'].includes(task.Status.State)) failed.push(line);
      else t.diagnostic(`not a crash: ${line}`);
    }
  }
  const now = await tasks();
  if (JSON.stringify(now) !== JSON.stringify(tasksBefore)) t.diagnostic(`running tasks before ${JSON.stringify(tasksBefore)}, after ${JSON.stringify(now)}`);
  assert.deepEqual(failed, [], 'tasks failed during the fuzz (if a drill or an operator killed them, rerun)');
});

test('When the fuzz is over, then no service logged an unhandled error and no NGINX worker died', async () => {
  // the services log a 500's cause as "unhandled error" (errorMiddleware); NGINX logs a crashed worker's signal.
  // docker logs per container (stdout and stderr: NGINX's error log is stderr); `docker service logs` could hang
  const found: string[] = [];
  for (const s of WATCHED) {
    const containers = (await docker('ps', '-a', '-q', '--filter', `label=com.docker.swarm.service.name=${STACK}_${s}`)).split('\n').filter(Boolean);
    for (const c of containers) {
      const { stdout, stderr } = await execFileP('docker', ['logs', '--since', fuzzStarted, c], { maxBuffer: 256 * 1024 * 1024, timeout: 60_000 });
      for (const line of `${stdout}\n${stderr}`.split('\n')) {
        if (/"unhandled error"|exited on signal|uncaughtException/.test(line)) found.push(`${s} ${c}: ${line.slice(0, 300)}`);
      }
    }
  }
  assert.deepEqual(found.slice(0, 10), [], `${found.length} lines`);
});

test('When the fuzz is over, then the stack is healthy: edge and API health 200, webhooks answer, anonymous and signed-in reads work', async () => {
  for (const path of ['/nginx-health', '/healthcheck/', '/']) assert.equal((await fetch(`${EDGE_URL}${path}`)).status, 200, path);
  for (const [path, tok] of [
    ['/ops/ipblock/v1/blocks', ctx.tokens.ipblock],
    ['/ops/autoscaler/v1/services', ctx.tokens.autoscaler],
  ]) {
    const r = await fetch(`${EDGE_URL}${path}`, { headers: { authorization: `Bearer ${tok}` } });
    assert.equal(r.status, 200, path);
    await r.arrayBuffer();
  }
  // reads of a listed thread (the fuzz may have deleted its own: it sends DELETE with the user's session)
  const anon = new Client();
  const list = await anon.get('/api/threads/');
  assert.equal(list.status, 200, list.text);
  const first = list.json?.results?.[0]?.id;
  assert.ok(first, list.text);
  assert.equal((await anon.get(`/api/threads/${first}/posts/`)).status, 200);
  // a fresh sign-in: the address was not locked out and the account works
  const c = new Client();
  await c.get('/api/auth/');
  const login = await c.post('/api/auth/', { username: user.name, password: user.password });
  assert.equal(login.status, 200, login.text);
  const me = await c.get('/api/auth/');
  assert.equal(me.json?.username, user.name);
  assert.equal((await c.get(`/api/threads/${first}/`)).status, 200);
  assert.equal((await c.get('/api/threads/')).status, 200);
});
