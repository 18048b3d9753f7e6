/**
 * The one rule for player ids and group names, shared by the API (JSON and octet-stream
 * pushes, URL segments), backend directives and plugins: a name one of them accepts, the
 * others can address.
 *
 * A name is a UTF-8 string (well-formed: no lone surrogates) of 1 to the maximum number
 * of characters (code points), without commas (headers and the octet-stream query list
 * names separated by commas), without control characters (C0, DEL, C1: they cannot travel
 * in a header) and without whitespace at either end (HTTP trims header values, so such a
 * name would arrive changed). Spaces inside a name are fine.
 */

/** Longest player id, in characters (code points). */
export const MAX_PLAYER_ID_CHARS = 256;
/** Longest group name, in characters (code points). */
export const MAX_GROUP_NAME_CHARS = 128;

const CONTROL = /\p{Cc}/u;
/** A lone surrogate (in `u` mode a well-formed pair is one astral code point, not Cs). */
const LONE_SURROGATE = /\p{Cs}/u;
const EDGE_SPACE = /^\s|\s$/u;

/** Why `id` is not a valid player id, or undefined when it is. */
export function playerIdProblem(id: string): string | undefined {
  return nameProblem(id, 'player ids', MAX_PLAYER_ID_CHARS);
}

/** Why `name` is not a valid group name, or undefined when it is. */
export function groupNameProblem(name: string): string | undefined {
  return nameProblem(name, 'group names', MAX_GROUP_NAME_CHARS);
}

function nameProblem(s: string, what: string, maxChars: number): string | undefined {
  if (typeof s !== 'string' || s.length === 0) return `${what} are non-empty strings`;
  // A code point is 1 or 2 UTF-16 units: count code points only when the units leave doubt.
  if (s.length > maxChars && (s.length > maxChars * 2 || [...s].length > maxChars))
    return `${what} are at most ${maxChars} characters`;
  if (LONE_SURROGATE.test(s)) return `${what} must be valid UTF-8 (no lone surrogates)`;
  if (s.includes(',')) return `${what} must not contain commas`;
  if (CONTROL.test(s)) return `${what} must not contain control characters`;
  if (EDGE_SPACE.test(s)) return `${what} must not start or end with whitespace`;
  return undefined;
}
