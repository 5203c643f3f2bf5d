import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { drfBoolean, DrfInvalid, drfInteger, drfString, FieldErrors, notADictionary, queryIntOr404 } from '../src/drf.js';

// DRF 3.x fields/BooleanField.TRUE_VALUES / FALSE_VALUES / NULL_VALUES, IntegerField, CharField, and Misago's get_int_or_404.

const refuses = (fn: () => unknown, message: string) =>
  assert.throws(fn, (err: unknown) => err instanceof DrfInvalid && err.message === message, `expected "${message}"`);

describe('drfBoolean', () => {
  test('When a value is one of TRUE_VALUES or FALSE_VALUES, then it is accepted', () => {
    for (const v of ['t', 'T', 'y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON', '1', 1, 1.0, true])
      assert.equal(drfBoolean(v), true, String(v));
    for (const v of ['f', 'F', 'n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF', '0', 0, 0.0, false])
      assert.equal(drfBoolean(v), false, String(v));
  });
  test('When a value is anything else, null unless allowed, or missing without a default, then it is refused', () => {
    for (const v of ['maybe', 'tRUE', ' true', '2', 2, -1, 0.5, [], {}, ['true']]) refuses(() => drfBoolean(v), 'Must be a valid boolean.');
    refuses(() => drfBoolean(null), 'This field may not be null.');
    refuses(() => drfBoolean(undefined), 'This field is required.');
    assert.equal(drfBoolean(undefined, { default: false }), false);
    for (const v of [null, '', 'null', 'Null', 'NULL']) assert.equal(drfBoolean(v, { allowNull: true }), null);
  });
});

describe('drfInteger', () => {
  test("When a value is an integer or a string Python's int() reads after a trailing .0 is cut, then it is accepted", () => {
    const cases: [unknown, number][] = [
      [0, 0],
      [2, 2],
      [2.0, 2],
      ['2', 2],
      [' 2 ', 2],
      ['2.0', 2],
      ['2.', 2],
      ['+2', 2],
      ['-3', -3],
      ['1_000', 1000],
      ['007', 7],
    ];
    for (const [v, want] of cases) assert.equal(drfInteger(v), want, JSON.stringify(v));
  });
  test('When a value is a boolean, fraction, word, list or overlong string, or out of bounds, then it is refused', () => {
    for (const v of [true, false, 1.5, '1.5', 'two', '', '0x10', '1e3', [], {}, '1__0']) refuses(() => drfInteger(v), 'A valid integer is required.');
    refuses(() => drfInteger('1'.repeat(1001)), 'String value too large.');
    refuses(() => drfInteger(3, { max: 2 }), 'Ensure this value is less than or equal to 2.');
    refuses(() => drfInteger(-1, { min: 0 }), 'Ensure this value is greater than or equal to 0.');
    assert.equal(drfInteger(undefined, { default: 0 }), 0);
    refuses(() => drfInteger(null), 'This field may not be null.');
  });
});

describe('drfString', () => {
  test('When a value is a string or a number, then it is accepted and trimmed; when blank, a boolean, a list or an object, then refused', () => {
    assert.equal(drfString('  hello '), 'hello');
    assert.equal(drfString(12), '12');
    assert.equal(drfString(1.5), '1.5');
    assert.equal(drfString('  x ', { trim: false }), '  x ');
    refuses(() => drfString('   '), 'This field may not be blank.');
    for (const v of [true, [], {}, ['a']]) refuses(() => drfString(v), 'Not a valid string.');
    refuses(() => drfString(undefined), 'This field is required.');
  });
});

describe("Misago's get_int_or_404 for start and page", () => {
  test('When the value is absent, then the fallback; when digits, then a number; when anything else, then null (404)', () => {
    assert.equal(queryIntOr404(undefined, 0), 0);
    assert.equal(queryIntOr404('0', 1), 0);
    assert.equal(queryIntOr404('26', 0), 26);
    assert.equal(queryIntOr404('99999999999999', 0), 2_147_483_647);
    for (const v of ['abc', '-1', '1.5', '', ' 1', ['1', '2']]) assert.equal(queryIntOr404(v, 0), null, JSON.stringify(v));
  });
});

describe('FieldErrors', () => {
  test("When several fields fail, then DRF's per-field lists are collected and the first failure's code is kept", () => {
    const e = new FieldErrors();
    assert.equal(
      e.value('close', () => drfBoolean('x')),
      undefined,
    );
    e.value('pin', () => drfInteger(undefined));
    e.add('close', 'Another problem.', 'other');
    assert.deepEqual(e.fields, { close: ['Must be a valid boolean.', 'Another problem.'], pin: ['This field is required.'] });
    assert.equal(e.code, 'invalid');
    assert.equal(e.any, true);
    assert.equal(notADictionary([1]), 'Invalid data. Expected a dictionary, but got list.');
  });
});
