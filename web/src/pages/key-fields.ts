/** What the key forms (create and edit) read from their text fields. */

/** A limit field: a whole number, or undefined when empty or not a number. */
export function limitOf(value: string): number | undefined {
  const n = Number(value);
  return value.trim() === '' || !Number.isFinite(n) ? undefined : Math.floor(n);
}

/** The models field: a comma list, empty entries dropped. */
export function modelsOf(value: string): string[] {
  return value
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
}
