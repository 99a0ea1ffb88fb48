/**
 * A text as a response header value that node:http accepts and every client reads alike: printable
 * ASCII without `%` as it is; anything else (a room named `北京`) percent-encoded as UTF-8, so that
 * `decodeURIComponent` always gives the text back. node:http throws on characters above U+00FF and sends
 * U+0080–U+00FF as Latin-1, which clients decode differently.
 */
export function headerValue(text: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(text) ? text : encodeURIComponent(text);
}
