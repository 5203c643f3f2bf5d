import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canDeleteThread, canEditPost, canEditTitle, canModerate, canReply, canSee, postEditRefusal, slugify } from '../src/forum-rules.js';
import { visibleSql } from '../src/thread-store.js';

const starter = { id: 7, isStaff: false };
const member = { id: 8, isStaff: false };
const staff = { id: 1, isStaff: true };
const thread = (o: Partial<{ is_hidden: boolean; is_closed: boolean; starter_id: number | null; replies: number }> = {}) => ({
  is_hidden: false,
  is_closed: false,
  starter_id: 7,
  replies: 0,
  ...o,
});

describe('canSee', () => {
  test('When a thread is not hidden, then guests, members and staff see it', () => {
    for (const v of [undefined, member, starter, staff]) assert.equal(canSee(thread(), v), true);
  });
  test('When a thread is hidden, then only staff and its starter see it', () => {
    const t = thread({ is_hidden: true });
    assert.equal(canSee(t, undefined), false);
    assert.equal(canSee(t, member), false);
    assert.equal(canSee(t, starter), true);
    assert.equal(canSee(t, staff), true);
  });
  test('When a hidden thread has no starter (deleted account), then a guest still does not see it', () => {
    assert.equal(canSee(thread({ is_hidden: true, starter_id: null }), undefined), false);
  });
});

describe('visibleSql', () => {
  test('When the viewer is known to be staff, then the condition is `true`', () => {
    assert.equal(visibleSql('$2', true), 'true');
  });
  test('When the viewer is not staff, then hidden threads pass only for their starter', () => {
    assert.equal(visibleSql('$2', false), '(NOT t.is_hidden OR t.starter_id = $2)');
  });
  test('When staff is a SQL parameter, then it is one more way through', () => {
    assert.equal(visibleSql('$1', '$2::boolean'), '(NOT t.is_hidden OR t.starter_id = $1 OR $2::boolean)');
  });
});

describe('canReply', () => {
  test('When the thread is open, then signed-in users reply and guests do not', () => {
    assert.equal(canReply(thread(), member), true);
    assert.equal(canReply(thread(), undefined), false);
  });
  test('When the thread is closed, then only staff reply', () => {
    const t = thread({ is_closed: true });
    assert.equal(canReply(t, member), false);
    assert.equal(canReply(t, starter), false);
    assert.equal(canReply(t, staff), true);
  });
});

describe('thread permissions', () => {
  test('When someone edits a title, then staff and the starter may', () => {
    assert.deepEqual(
      [undefined, member, starter, staff].map((v) => canEditTitle(thread(), v)),
      [false, false, true, true],
    );
  });
  test('When the starter deletes a thread, then only while nobody replied; staff always', () => {
    assert.equal(canDeleteThread(thread(), starter), true);
    assert.equal(canDeleteThread(thread({ replies: 1 }), starter), false);
    assert.equal(canDeleteThread(thread({ replies: 1 }), staff), true);
    assert.equal(canDeleteThread(thread(), member), false);
  });
  test('When someone moderates, then only staff may', () => {
    assert.deepEqual(
      [undefined, member, staff].map((v) => canModerate(v)),
      [false, false, true],
    );
  });
});

describe('post edits', () => {
  test("When a member edits someone else's post, then Misago's refusal names it", () => {
    assert.equal(postEditRefusal(thread(), starter.id, member), "You can't edit other users posts.");
    assert.equal(canEditPost(thread(), starter.id, member), false);
  });
  test('When the thread is closed, then its poster may not edit and staff may', () => {
    const t = thread({ is_closed: true });
    assert.equal(postEditRefusal(t, member.id, member), "This thread is closed. You can't edit posts in it.");
    assert.equal(postEditRefusal(t, member.id, staff), undefined);
    assert.equal(canEditPost(t, member.id, staff), true);
  });
  test('When the poster edits in an open thread, then it is allowed; a guest never edits', () => {
    assert.equal(canEditPost(thread(), member.id, member), true);
    assert.equal(canEditPost(thread(), member.id, undefined), false);
  });
});

describe('slugify', () => {
  test('When a title has accents and punctuation, then the slug is plain lowercase words joined by dashes', () => {
    assert.equal(slugify('  Héllo, Wörld!  '), 'hello-world');
  });
  test('When nothing of a title survives, then the fallback is the slug', () => {
    assert.equal(slugify('!!!'), 'thread');
    assert.equal(slugify('???', 'user'), 'user');
  });
});
