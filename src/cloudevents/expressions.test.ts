import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CloudEvent } from './cloudEvent.ts';
import {
  bindNames,
  compileFilter,
  compileHeaderValue,
  compileTransform,
  EvaluationStopped,
  ExpressionError,
} from './expressions.ts';

const event: CloudEvent = {
  specversion: '1.0',
  id: 'e1',
  type: 'order.created',
  source: 'shop',
  subject: 'eu-42',
  tenant: 'acme',
  data: { total: 1500, contact: { email: 'a@example.com' }, type: 'inner', items: [1, 2, 3] },
};

function filter(source: string) {
  const f = compileFilter(source);
  assert.ok(f.ok, f.ok ? '' : f.problem);
  return f.value;
}

test('`type` is the event type, except as a field, a call, or inside a string', () => {
  assert.equal(bindNames('type == "x"'), '__event_type == "x"');
  assert.equal(bindNames('data.type == type'), 'data.type == __event_type');
  assert.equal(bindNames('type(data) == map'), 'type(data) == map');
  assert.equal(bindNames('"type" == type'), '"type" == __event_type');
  assert.equal(bindNames("'it\\'s type' + type"), "'it\\'s type' + __event_type");
  assert.equal(bindNames('typed == 1 && subtype == 2'), 'typed == 1 && subtype == 2');
});

test('matches() runs in linear time (RE2): a pattern that backtracks in JavaScript answers at once', () => {
  const f = filter('data.s.matches("^(a+)+$")');
  const hostile = { ...event, data: { s: `${'a'.repeat(5000)}b` } };
  const started = performance.now();
  assert.equal(f(hostile), false);
  // JavaScript's RegExp takes about 4 s on 31 characters; RE2 is linear in the input.
  assert.ok(performance.now() - started < 2000, 'answered without backtracking');
  assert.equal(f({ ...event, data: { s: 'aaaa' } }), true);
  assert.equal(filter('matches(data.s, "b$")')(hostile), true, 'the global form too');
  assert.equal(
    filter('data.matches == 1 || true')({ ...event, data: { matches: 1 } }),
    true,
    'a field named matches',
  );
});

test('a pattern RE2 does not accept is refused at compile time, naming it', () => {
  for (const source of [
    'subject.matches("(a)\\\\1")',
    'matches(subject, "(?=eu)")',
    'subject.matches(r"(?<!x)y")',
  ]) {
    const compiled = compileFilter(source);
    assert.ok(
      !compiled.ok && /is not RE2 syntax/.test(compiled.problem),
      `${source}: ${JSON.stringify(compiled)}`,
    );
  }
  const header = compileHeaderValue('subject.matches("(a)\\\\1") ? "x" : "y"');
  assert.ok(!header.ok && /is not RE2 syntax/.test(header.problem));
  // A pattern that is not a literal is checked when it is used.
  const dynamic = filter('subject.matches(data.pattern)');
  assert.throws(
    () => dynamic({ ...event, data: { pattern: '(a)\\1' } }),
    /invalid regular expression \(RE2\)/,
  );
});

test('JSONata regular expressions run on RE2 too; a literal RE2 refuses is a compile problem', async () => {
  const t = compileTransform(
    '{ "m": $match(subject, /(eu)-(\\d+)/).groups, "r": $replace(subject, /\\d/, "#"), "c": $contains(subject, /EU/i), "s": $split("a1b2c", /\\d/) }',
  );
  assert.ok(t.ok, t.ok ? '' : t.problem);
  assert.deepEqual(JSON.parse(await t.value(event)), {
    m: ['eu', '42'],
    r: 'eu-##',
    c: true,
    s: ['a', 'b', 'c'],
  });
  const slow = compileTransform('$contains(data.s, /^(a+)+$/)');
  assert.ok(slow.ok);
  assert.equal(await slow.value({ ...event, data: { s: `${'a'.repeat(5000)}b` } }), 'false');
  const refused = compileTransform('$match(subject, /(?=eu)/)');
  assert.ok(!refused.ok && /is not RE2 syntax/.test(refused.problem), JSON.stringify(refused));
});

test("the issue's filter: type, data and subject", () => {
  const f = filter('type == "order.created" && data.total > 1000 && subject.startsWith("eu-")');
  assert.equal(f(event), true);
  assert.equal(f({ ...event, subject: 'us-1' }), false);
  assert.equal(f({ ...event, data: { total: 10 } }), false);
  assert.equal(f({ ...event, type: 'order.paid' }), false);
});

test('extensions, absent attributes, data fields named like attributes, has() and lists', () => {
  assert.equal(filter('extensions.tenant == "acme"')(event), true);
  assert.equal(filter('time == ""')(event), true, 'an absent attribute is the empty string');
  assert.equal(filter('data.type == "inner" && type != "inner"')(event), true);
  assert.equal(filter('has(data.contact.email) && !has(data.missing)')(event), true);
  assert.equal(filter('size(data.items) == 3 && 2 in data.items')(event), true);
});

test('a run-time failure throws an ExpressionError with a stable code; the event decides nothing', () => {
  const f = filter('data.missing > 3');
  assert.throws(
    () => f(event),
    (err: unknown) => err instanceof ExpressionError && err.code === 'no_such_key',
  );
  const mixed = filter('data.total + "x" == "y"');
  assert.throws(
    () => mixed(event),
    (err: unknown) => err instanceof ExpressionError && err.code === 'no_such_overload',
  );
  const notBool = filter('data.total');
  assert.throws(() => notBool(event), /did not yield true or false/);
});

test('syntax and type errors are found at compile time, naming the problem', () => {
  const syntax = compileFilter('type == ');
  assert.ok(!syntax.ok && /not a CEL expression/.test(syntax.problem));
  const unknown = compileFilter('tenant == "acme"');
  assert.ok(!unknown.ok && /CEL type error: Unknown variable: tenant/.test(unknown.problem));
  const overload = compileFilter('subject.startsWith(1)');
  assert.ok(!overload.ok && /startsWith\(int\)/.test(overload.problem));
  const notCondition = compileFilter('"text"');
  assert.ok(!notCondition.ok && /must be a condition/.test(notCondition.problem));
  const typeMessage = compileFilter('type + 1 == 2');
  assert.ok(
    !typeMessage.ok && /string \+ int/.test(typeMessage.problem) && !/__event_type/.test(typeMessage.problem),
  );
});

test('header values: strings, numbers and bools as text; null means no header', () => {
  const value = (source: string) => {
    const h = compileHeaderValue(source);
    assert.ok(h.ok, h.ok ? '' : h.problem);
    return h.value(event);
  };
  assert.equal(value('id'), 'e1');
  assert.equal(value('data.total'), '1500');
  assert.equal(value('extensions.tenant'), 'acme');
  assert.equal(value('data.?nope.orValue(null)'), undefined);
  assert.throws(() => value('data.items'), /not a string, number or bool/);
});

test('a transform reshapes the event; a failing one names why; a step check stops an endless one', async () => {
  const t = compileTransform('{ "id": id, "email": data.contact.email, "n": $count(data.items) }');
  assert.ok(t.ok);
  assert.equal(await t.value(event), '{"id":"e1","email":"a@example.com","n":3}');
  const failing = compileTransform('$number(data.contact.email)');
  assert.ok(failing.ok);
  await assert.rejects(
    () => failing.value(event),
    (err: unknown) => err instanceof ExpressionError,
  );
  // Not a tail call: it recurses, and is stopped at the stack limit.
  const recursion = compileTransform('($f := function($n) { $f($n + 1) + 1 }; $f(0))');
  assert.ok(recursion.ok);
  await assert.rejects(
    () => recursion.value(event),
    (err: unknown) => err instanceof ExpressionError && err.code === 'D1011',
  );
  // A tail call loops without growing the stack: only the step check stops it.
  const endless = compileTransform('($f := function($n) { $f($n + 1) }; $f(0))');
  assert.ok(endless.ok);
  let steps = 0;
  await assert.rejects(
    () =>
      endless.value(event, () => {
        steps += 1;
        if (steps > 10_000) throw new EvaluationStopped('enough');
      }),
    (err: unknown) => err instanceof EvaluationStopped,
  );
  assert.ok(steps > 10_000, 'the check ran on every step');
  const nothing = compileTransform('data.missing');
  assert.ok(nothing.ok);
  await assert.rejects(() => nothing.value(event), /produced nothing/);
  const syntax = compileTransform('{ "id": ');
  assert.ok(!syntax.ok && /not a JSONata expression/.test(syntax.problem));
});
