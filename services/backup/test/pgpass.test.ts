import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { pgChildEnv } from '../src/backup.js';

test('When a child gets the password, then it is in a mode-600 password file named by PGPASSFILE, not in PGPASSWORD, and the file goes away', async () => {
  process.env.PGPASSWORD = 'from-the-environment';
  try {
    const child = await pgChildEnv('p:w\\d');
    assert.equal(child.env.PGPASSWORD, undefined);
    const file = child.env.PGPASSFILE!;
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8'), '*:*:*:*:p\\:w\\\\d\n');
    await child.remove();
    assert.equal(existsSync(file), false);
  } finally {
    delete process.env.PGPASSWORD;
  }
});
