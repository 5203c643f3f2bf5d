import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockPolicy, canonicalize, PolicyError } from '../src/ip-policy.js';

const policy = new BlockPolicy();
const code = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof PolicyError, String(err));
    return err.code;
  }
};

test('When an address or CIDR is valid, then it is canonicalized the way NGINX geo reads it', () => {
  assert.equal(policy.check('203.0.113.7'), '203.0.113.7');
  assert.equal(policy.check('203.0.113.7/32'), '203.0.113.7');
  assert.equal(policy.check('203.0.113.77/24'), '203.0.113.0/24');
  assert.equal(policy.check('2001:DB8:0:0::1'), '2001:db8::1');
  assert.equal(policy.check('2001:db8:abcd::1/48'), '2001:db8:abcd::/48');
  assert.equal(policy.check('::ffff:198.51.100.9'), '198.51.100.9');
  assert.equal(canonicalize(' 8.8.8.8 '), '8.8.8.8');
});

test('When the input is not a plain address, then it is invalid_ip', () => {
  for (const bad of [
    '',
    'abc',
    '1.2.3',
    '127.1',
    '0x7f.0.0.1',
    '1.2.3.4/33',
    '1.2.3.4/-1',
    '1.2.3.4/ 8',
    '01.2.3.4',
    'fe80::1%eth0',
    '2001:db8::/129',
    '1.2.3.4 1;',
    '1.2.3.4;\ninclude /etc/passwd',
  ]) {
    assert.equal(
      code(() => policy.check(bad)),
      'invalid_ip',
      bad,
    );
  }
});

test('When a range would lock out the infrastructure, then it is refused', () => {
  for (const bad of [
    '127.0.0.1',
    '10.1.2.3',
    '172.18.0.1',
    '192.168.1.0/24',
    '100.64.0.1',
    '169.254.1.1',
    '0.0.0.0',
    '224.0.0.18',
    '::1',
    'fd00::1',
    'fe80::1',
    '::',
    '::ffff:10.0.0.1',
  ]) {
    assert.equal(
      code(() => policy.check(bad)),
      'protected_range',
      bad,
    );
  }
  // a public CIDR that CONTAINS a private range is refused too
  assert.equal(
    code(() => new BlockPolicy({ minPrefixV4: 0 }).check('0.0.0.0/0')),
    'protected_range',
  );
  assert.equal(
    code(() => policy.check('8.0.0.0/8')),
    'prefix_too_broad',
  );
  assert.equal(
    code(() => policy.check('2001::/16')),
    'prefix_too_broad',
  );
});

test('When infrastructure ranges are configured, then they are refused; allow ranges override for labs', () => {
  const p = new BlockPolicy({ protectedCidrs: ['198.51.100.0/24'], allowCidrs: ['10.99.0.0/16'] });
  assert.equal(
    code(() => p.check('198.51.100.20')),
    'protected_range',
  );
  assert.equal(p.check('10.99.1.2'), '10.99.1.2');
  assert.equal(
    code(() => p.check('10.98.1.2')),
    'protected_range',
  );
  assert.equal(p.check('203.0.113.7'), '203.0.113.7');
});
