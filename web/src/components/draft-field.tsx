/** A labelled text field bound to one string of a form's draft (the key and endpoint forms use it). */

export interface DraftFieldOptions<D> {
  /** Fields the form cannot be sent without. */
  required?: readonly (keyof D)[];
  /** Fields that hold a whole number (a numeric keypad on phones). */
  numeric?: readonly (keyof D)[];
  /** Fields that hold a secret: not shown as typed, not filled from (or saved to) the browser's passwords. */
  secret?: readonly (keyof D)[];
}

/** Returns `(name, label, placeholder?)` → a label with its input, which updates `draft[name]`. */
export function draftField<D extends { [K in keyof D]: string }>(
  draft: D,
  setDraft: (draft: D) => void,
  options: DraftFieldOptions<D> = {},
) {
  return (name: keyof D & string, text: string, placeholder = '') => {
    const common = {
      name,
      value: draft[name],
      placeholder,
      required: options.required?.includes(name) ?? false,
      onInput: (e: { currentTarget: HTMLInputElement }) =>
        setDraft({ ...draft, [name]: e.currentTarget.value }),
    };
    return (
      <label>
        {text}
        {options.secret?.includes(name) ? (
          <input type="password" autoComplete="new-password" {...common} />
        ) : (
          <input
            type="text"
            inputMode={options.numeric?.includes(name) ? 'numeric' : undefined}
            {...common}
          />
        )}
      </label>
    );
  };
}
