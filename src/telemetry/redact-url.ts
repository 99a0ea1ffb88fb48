/**
 * Hides the password of a URL (`postgres://user:secret@host`, `redis://:secret@host`, or a
 * `?password=` parameter) before it reaches a message or a log. Only the password changes: a string
 * without `://` (`sqlite:/path`, a file path) is returned as it is, and one that does not parse as a URL
 * loses everything between `//user:` and its last `@`.
 */
export function redact(url: string): string {
  if (!url.includes('://')) return url;
  const query = (text: string) => text.replace(/([?&]password=)[^&#]*/gi, '$1***');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return query(url.replace(/(\/\/[^:/@]*):.*@/, '$1:***@'));
  }
  if (parsed.password) parsed.password = '***';
  return query(parsed.toString());
}
