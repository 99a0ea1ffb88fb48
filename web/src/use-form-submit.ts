import { useState } from 'preact/hooks';

/** A thrown value as a line to show: an Error's message, else the value as text. */
export function messageOf(caught: unknown): string {
  return caught instanceof Error ? caught.message : String(caught);
}

/**
 * A form's submit handler: stops the browser's own submission, runs `action`, and keeps why it failed
 * (`error`; cleared at the next submission).
 */
export function useFormSubmit(action: () => Promise<void>): {
  error: string | null;
  onSubmit: (event: Event) => void;
} {
  const [error, setError] = useState<string | null>(null);
  const onSubmit = (event: Event): void => {
    event.preventDefault();
    setError(null);
    action().catch((caught: unknown) => setError(messageOf(caught)));
  };
  return { error, onSubmit };
}
