import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REDACTED, redact, secretForms } from './redact.ts';

test('every form of a secret is redacted: raw, the credential of a Bearer or Basic value, decoded, URL-encoded', () => {
  const basic = `Basic ${Buffer.from('courier:pw_s3cret!').toString('base64')}`;
  const forms = secretForms(['Bearer tok_abcdef123', basic, 'whsec_c2lnbmluZ2tleQ==', 'short', undefined]);
  const echoed = [
    'you sent Bearer tok_abcdef123',
    `token=tok_abcdef123&x=1`,
    `auth ${basic} = courier:pw_s3cret!`,
    `encoded courier%3Apw_s3cret!`,
    'key c2lnbmluZ2tleQ==',
    'a short word stays',
  ].join('\n');
  const out = redact(echoed, forms);
  for (const secret of ['tok_abcdef123', 'pw_s3cret', 'c2lnbmluZ2tleQ=='])
    assert.ok(!out.includes(secret), secret);
  assert.ok(out.includes('a short word stays'), 'values under 6 characters are left alone');
  assert.ok(out.includes(`you sent Bearer ${REDACTED}`) || out.includes(`you sent ${REDACTED}`));
});
