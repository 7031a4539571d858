import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ACS_REDIRECT_BITS, acsListText } from './acs.ts';

const name = (i: number) => `0000:${i.toString(16).padStart(2, '0')}:00.0`;

describe('ACS list buffer (kernel-model.md 2.7)', () => {
  it('tests exactly ReqRedir, CmpltRedir and EgressCtrl', () => {
    assert.equal(ACS_REDIRECT_BITS, 0x04 | 0x08 | 0x20);
  });

  it('drops the final semicolon while the list fits', () => {
    assert.deepEqual(acsListText([]), { text: '', overflowed: false });
    assert.deepEqual(acsListText([name(1)]), { text: '0000:01:00.0', overflowed: false });
    assert.deepEqual(acsListText([name(1), name(2)]), { text: '0000:01:00.0;0000:02:00.0', overflowed: false });
  });

  it('holds nine 12-character names (116 characters printed)', () => {
    const nine = Array.from({ length: 9 }, (_, i) => name(i));
    const r = acsListText(nine);
    assert.equal(r.overflowed, false);
    assert.equal(r.text, nine.join(';'));
    assert.equal(r.text.length, 116);
  });

  it('cuts the tenth name at 127 characters and removes nothing from the end', () => {
    const names = Array.from({ length: 13 }, (_, i) => name(i));
    const r = acsListText(names);
    assert.equal(r.overflowed, true);
    assert.equal(r.text.length, 127);
    assert.equal(r.text, `${names.slice(0, 9).join(';')};0000:09:00`);
  });

  it('treats a list of exactly 128 bytes as overflowed (no room for the terminator)', () => {
    const nine = Array.from({ length: 9 }, (_, i) => name(i)); // 117 bytes with their ';'
    const r = acsListText([...nine, 'abcdefghij']); // + 11 = 128
    assert.equal(r.overflowed, true);
    assert.equal(r.text, `${nine.join(';')};abcdefghij`, 'vsnprintf wrote 10 characters, the ; did not fit');
    const fits = acsListText([...nine, 'abcdefghi']); // + 10 = 127 < 128
    assert.equal(fits.overflowed, false);
    assert.equal(fits.text, `${nine.join(';')};abcdefghi`);
  });

  it('is the joined list while it fits, else its first 127 characters (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[0-9a-f:.]{1,16}$/), { maxLength: 20 }), (names) => {
        const joined = names.map((n) => `${n};`).join('');
        const r = acsListText(names);
        if (joined.length < 128) {
          assert.equal(r.overflowed, false);
          assert.equal(r.text, joined.slice(0, -1));
        } else {
          assert.equal(r.overflowed, true);
          assert.equal(r.text, joined.slice(0, 127));
        }
      }),
    );
  });
});
