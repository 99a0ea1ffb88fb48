/** A form field's whole number: null when the field is empty; throws `message` when it holds anything else. */
export function wholeNumberOf(text: string, message: string): number | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const value = Number(trimmed);
  if (!Number.isSafeInteger(value)) throw new Error(message);
  return value;
}
