import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SlackQueue, createLogger, type SlackMessage } from '@forum/shared';

const logger = createLogger('slack-queue-test', { level: 'silent' });

/** A local Slack incoming webhook: records every body with its arrival time; `refuse` answers like a dead hook. */
interface Received {
  at: number;
  body: { text: string; blocks: unknown[]; attachments: Array<{ color: string; fields: unknown[] }>; channel?: string };
}
let server: Server;
let url: string;
let received: Received[] = [];
let refuse = false;

before(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (refuse) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no_active_hooks');
      received.push({ at: Date.now(), body: JSON.parse(raw) });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/XXXX`;
});

after(() => new Promise<void>((r) => server.close(() => r())));

const reset = () => {
  received = [];
  refuse = false;
};

test('When messages are sent in a burst, then Slack gets each one, in order, at least minIntervalMs apart', async () => {
  reset();
  const queue = new SlackQueue(url, logger, { minIntervalMs: 200 });
  const t0 = Date.now();
  const results = await Promise.all(['a', 'b', 'c'].map((text) => queue.send({ text, color: 'warning', fields: { n: 1 }, channel: '#ops' })));
  assert.deepEqual(results, [true, true, true]);
  assert.deepEqual(
    received.map((r) => r.body.text),
    ['a', 'b', 'c'],
  );
  // the i-th post cannot start before i intervals have passed (arrival times alone jitter on a busy machine)
  received.forEach((r, i) => assert.ok(r.at - t0 >= i * 200, `message ${i} after ${r.at - t0} ms`));
  const body = received[0].body;
  assert.equal(body.channel, '#ops');
  assert.equal(body.blocks.length, 1);
  assert.equal(body.attachments[0].color, 'warning');
  assert.deepEqual(body.attachments[0].fields, [{ title: 'n', value: '1', short: true }]);
  assert.equal(queue.pending, 0);
});

test('When a merge is given, then what piled up during the wait goes out as one message', async () => {
  reset();
  const merge = (batch: SlackMessage[]): SlackMessage => ({ text: batch.map((m) => m.text).join('+'), color: 'danger' });
  const queue = new SlackQueue(url, logger, { minIntervalMs: 300, merge });
  const sent = ['1', '2', '3', '4'].map((text) => queue.send({ text }));
  assert.equal(queue.pending, 3, 'the first is on its way, the rest wait');
  assert.deepEqual(await Promise.all(sent), [true, true, true, true]);
  assert.deepEqual(
    received.map((r) => [r.body.text, r.body.attachments[0].color]),
    [
      ['1', 'good'],
      ['2+3+4', 'danger'],
    ],
  );
});

test('When Slack refuses a message, then send resolves false and the next message still goes out', async () => {
  reset();
  const queue = new SlackQueue(url, logger, { minIntervalMs: 50 });
  refuse = true;
  assert.equal(await queue.send({ text: 'lost' }), false);
  refuse = false;
  assert.equal(await queue.send({ text: 'next' }), true);
  assert.deepEqual(
    received.map((r) => r.body.text),
    ['next'],
  );
});

test('When Slack is unreachable, then send resolves false instead of throwing', async () => {
  const queue = new SlackQueue('http://127.0.0.1:9/services/none', logger, { minIntervalMs: 10 });
  assert.equal(await queue.send({ text: 'nobody listens' }), false);
});

test('When no webhook is configured, then send resolves false at once and nothing is posted', async () => {
  reset();
  const queue = new SlackQueue(undefined, logger);
  const t = Date.now();
  assert.deepEqual(await Promise.all([queue.send({ text: 'x' }), queue.send({ text: 'y' })]), [false, false]);
  assert.ok(Date.now() - t < 100);
  assert.equal(received.length, 0);
});

test('When the queue is drained with a deadline, then drain returns by the deadline even with messages left', async () => {
  reset();
  const queue = new SlackQueue(url, logger, { minIntervalMs: 1000 });
  const sent = ['a', 'b', 'c'].map((text) => queue.send({ text }));
  const t = Date.now();
  await queue.drain(300);
  assert.ok(Date.now() - t < 900, `drain took ${Date.now() - t} ms`);
  assert.ok(queue.pending > 0);
  await queue.drain();
  assert.equal(queue.pending, 0);
  assert.deepEqual(await Promise.all(sent), [true, true, true]);
});
