/**
 * The room's name from an answer's `x-edgefleet-site`, which the gateway percent-encodes (UTF-8) unless
 * the name is printable ASCII without `%`; a value that does not decode is shown as it came.
 */
export function siteFromHeader(value: string | null): string | null {
  if (value === null) return null;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
