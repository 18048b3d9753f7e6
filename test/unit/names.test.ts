// The one naming rule for player ids and group names (src/players/names.ts), shared by the
// API, backend directives and plugins.
import { describe, expect, it } from 'vitest';
import { groupNameProblem, playerIdProblem } from '../../src/players/names.js';

describe('player ids and group names', () => {
  it.each(['alice', '玩家1', 'red team', 'a-b_c.d:e/f', '😀'.repeat(256), 'x'.repeat(256)])(
    '%s is a valid player id',
    (id) => {
      expect(playerIdProblem(id)).toBeUndefined();
    },
  );

  it.each([
    ['', /non-empty/],
    ['x'.repeat(257), /at most 256 characters/],
    ['😀'.repeat(257), /at most 256 characters/],
    ['a,b', /commas/],
    ['a\u0000b', /control/],
    ['a\nb', /control/],
    ['a\u007fb', /control/],
    ['a\u0085b', /control/],
    [' alice', /whitespace/],
    ['alice ', /whitespace/],
    ['alice\u00a0', /whitespace/],
    ['\ud800x', /UTF-8/],
  ])('%j is refused: %s', (id, problem) => {
    expect(playerIdProblem(id)).toMatch(problem);
  });

  it('group names: the same rule, at most 128 characters', () => {
    expect(groupNameProblem('guild 7')).toBeUndefined();
    expect(groupNameProblem('g'.repeat(128))).toBeUndefined();
    expect(groupNameProblem('g'.repeat(129))).toMatch(/group names are at most 128 characters/);
    expect(groupNameProblem('a,b')).toMatch(/group names must not contain commas/);
  });
});
