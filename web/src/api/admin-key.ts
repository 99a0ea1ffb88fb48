/** The admin key lives in sessionStorage: gone when the tab closes, never in localStorage or a cookie. */
const storageKey = 'edgefleet.adminKey';

export function loadAdminKey(): string | null {
  try {
    return sessionStorage.getItem(storageKey);
  } catch {
    return null;
  }
}

export function saveAdminKey(key: string): void {
  sessionStorage.setItem(storageKey, key);
}

export function clearAdminKey(): void {
  sessionStorage.removeItem(storageKey);
}
