/** Hides the password of a URL (`postgres://user:secret@host`) before it reaches a message or a log. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, '$1:***@');
}
