/** What the key forms (create and edit) share: their text fields and how a limit or model list is read. */
import { draftField } from '../components/draft-field';
import { wholeNumberOf } from '../whole-number';

/** A limit field: null when empty (no limit); anything else must be a whole number. */
export function limitOf(text: string, field: string): number | null {
  return wholeNumberOf(text, `${field} must be a whole number, or empty for no limit`);
}

/** The models field: a comma list, empty entries dropped. */
export function modelsOf(text: string): string[] {
  return text
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
}

/** Renders one labelled text field of a key form (its draft holds a string per field). */
export function keyField<D extends { [K in keyof D]: string }>(draft: D, setDraft: (draft: D) => void) {
  return draftField(draft, setDraft, {
    required: ['name' as keyof D],
    numeric: ['rpm', 'tpm', 'tokenBudget'] as (keyof D)[],
  });
}
