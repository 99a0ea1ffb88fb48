/**
 * Prefix affinity: the leading characters of a request's prompt (text completions) or of its messages'
 * roles and text (chat) make its affinity key; rendezvous (highest-random-weight) hashing maps a key to
 * one of the candidate instances, so requests that share a prefix land where its KV cache already is,
 * and an instance that leaves moves only its own keys. Pure.
 */

/** The first `chars` characters of what the engine will see first, or undefined (nothing to key on). */
export function prefixKeyOf(body: unknown, chars: number): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { messages, prompt } = body as { messages?: unknown; prompt?: unknown };
  let text = '';
  if (Array.isArray(messages)) {
    for (const message of messages) {
      if (text.length >= chars) break;
      if (typeof message !== 'object' || message === null) continue;
      const { role, content } = message as { role?: unknown; content?: unknown };
      text += `${typeof role === 'string' ? role : ''}\u0000${contentText(content)}\u0000`;
    }
  } else if (typeof prompt === 'string') {
    text = prompt;
  } else if (Array.isArray(prompt) && typeof prompt[0] === 'string') {
    text = prompt[0];
  } else if (Array.isArray(prompt) && typeof prompt[0] === 'number') {
    text = prompt.slice(0, chars).join(',');
  }
  return text.length === 0 ? undefined : text.slice(0, chars);
}

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) =>
      typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string'
        ? (part as { text: string }).text
        : '',
    )
    .join('');
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Murmur3's finalizer: spreads the bits of a 32-bit number. */
function mix(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** The candidate (by key) that owns `prefixKey`: the highest hash of key and candidate together. */
export function rendezvousPick(prefixKey: string, candidateKeys: readonly string[]): string | undefined {
  const keyHash = fnv1a(prefixKey);
  let best: string | undefined;
  let bestWeight = -1;
  for (const candidate of candidateKeys) {
    const weight = mix(fnv1a(candidate, keyHash));
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && candidate < best)) {
      best = candidate;
      bestWeight = weight;
    }
  }
  return best;
}
