import type { Site } from '../api/types';
import { useCatalog } from '../use-catalog';
import { wholeNumberOf } from '../whole-number';

/** What a deployment runs, as the form holds it: empty quant, engine or context means automatic. */
export interface WhatRunsDraft {
  model: string;
  quant: string;
  engine: string;
  /** Empty: the server's default. */
  context: string;
  /** Room names; none: anywhere. */
  sites: string[];
}

/** The context field as tokens, null when empty; throws for anything but a whole number. */
export function contextTokensOf(draft: WhatRunsDraft): number | null {
  return wholeNumberOf(
    draft.context,
    'context must be a whole number of tokens, or empty for the server default',
  );
}

/**
 * The fields of what a deployment runs: model, quantization, engine, context per stream and rooms. The
 * new-deployment form and a deployment's Change… form share them; `listId` names the model suggestions
 * (unique on the page).
 */
export function WhatRunsFields({
  draft,
  change,
  sites,
  listId,
}: {
  draft: WhatRunsDraft;
  change: (patch: Partial<WhatRunsDraft>) => void;
  sites: Site[];
  listId: string;
}) {
  const catalog = useCatalog();
  return (
    <>
      <label>
        Model
        <input
          name="model"
          required
          list={listId}
          value={draft.model}
          onInput={(e) => change({ model: e.currentTarget.value })}
          placeholder="catalog id, /path/model.gguf or hf:user/repo/file.gguf"
        />
      </label>
      <datalist id={listId}>
        {catalog.data?.models.map((m) => (
          <option key={m.id} value={m.id}>
            {m.name ?? m.id}
          </option>
        ))}
      </datalist>
      <label>
        Quantization
        <select name="quant" value={draft.quant} onChange={(e) => change({ quant: e.currentTarget.value })}>
          <option value="">automatic</option>
          {catalog.data?.quantizations.map((q) => (
            <option key={q.id} value={q.id}>
              {q.name ?? q.id}
            </option>
          ))}
        </select>
      </label>
      <label>
        Engine
        <select
          name="engine"
          value={draft.engine}
          onChange={(e) => change({ engine: e.currentTarget.value })}
        >
          <option value="">automatic</option>
          {catalog.data?.engines.map((engine) => (
            <option key={engine.id} value={engine.id}>
              {engine.name ?? engine.id}
            </option>
          ))}
        </select>
      </label>
      <label>
        Context per stream (tokens)
        <input
          name="context"
          inputMode="numeric"
          value={draft.context}
          onInput={(e) => change({ context: e.currentTarget.value })}
          placeholder="server default"
        />
      </label>
      <fieldset>
        <legend>Rooms (none: anywhere)</legend>
        {sites.map((site) => (
          <label key={site.id} class="check">
            <input
              type="checkbox"
              checked={draft.sites.includes(site.name)}
              onChange={(e) =>
                change({
                  sites: e.currentTarget.checked
                    ? [...draft.sites, site.name]
                    : draft.sites.filter((s) => s !== site.name),
                })
              }
            />
            {site.name}
          </label>
        ))}
      </fieldset>
    </>
  );
}
