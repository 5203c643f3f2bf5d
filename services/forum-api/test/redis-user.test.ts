// The api's Redis client logs in as its ACL user (REDIS_USER): the stack's `app`, a user other than `default`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { createRedis } from '../src/redis.js';
import { startRedis } from './support/env.js';

test('When REDIS_USER names an ACL user, then the client logs in as that user with the secret password', async () => {
  const server = await startRedis();
  const logger = pino({ level: 'silent' });
  server.cli('ACL', 'SETUSER', 'app', 'on', '>app-secret', '~*', '&*', '+@all', '-@admin', '-@dangerous', '+info');
  const redis = createRedis(server.url, 'app-secret', logger, { username: 'app' });
  try {
    assert.equal(await redis.set('k', 'v'), 'OK');
    assert.equal(await redis.acl('WHOAMI'), 'app');
    await assert.rejects(redis.config('GET', 'maxmemory'), /NOPERM/);
  } finally {
    redis.disconnect();
    await server.stop();
  }
});
