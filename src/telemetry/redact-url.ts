/**
 * Hides the password of a URL (`postgres://user:secret@host`, `redis://:secret@host`, or a
 * `?password=` parameter) before it reaches a message or a log. A string that does not parse as a
 * URL still loses anything between `//user:` and `@`.
 */
export function redact(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/(\/\/[^:/@]*):[^@]*@/, '$1:***@');
  }
  if (parsed.password) parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.toString();
}
