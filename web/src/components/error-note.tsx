import { ApiError } from '../api/client';

/** Shows why data could not be loaded; a route the server lacks reads "not available on this server". */
export function ErrorNote({ error, what }: { error: Error | undefined; what?: string }) {
  if (!error) return null;
  const missing = error instanceof ApiError && error.isMissing;
  return (
    <p class="note note-error" role="alert">
      {missing
        ? `${what ?? 'This view'} is not available on this server (${error.message}).`
        : `${what ? `${what}: ` : ''}${error.message}`}
    </p>
  );
}

/** Why a form's submission was refused (nothing when it was not). */
export function FormError({ message }: { message: string | null }) {
  if (message === null) return null;
  return (
    <p class="note note-error" role="alert">
      {message}
    </p>
  );
}
