import { useEffect, useState } from 'preact/hooks';
import { api } from '../api/client';
import type { Catalog, Estimate, FleetNode, ListResponse } from '../api/types';
import { ErrorNote } from '../components/error-note';
import { MemoryBar } from '../components/memory-bar';
import { PageTitle } from '../components/page-title';
import { StatusBadge } from '../components/status-badge';
import { formatMs, formatNumber, formatUsd } from '../format';
import { useCatalog } from '../use-catalog';
import { usePoll } from '../use-poll';
import { type FleetHardware, RecommendPanel } from './recommend-panel';

interface Choice {
  model: string;
  quant: string;
  engine: string;
  hardware: string;
  count: number;
  batch: number;
  contextTokens: string;
}

function preferred(ids: string[], wanted: string[]): string {
  return wanted.find((w) => ids.includes(w)) ?? ids[0] ?? '';
}

/** Hardware ids that devices of the fleet matched, with the most of each on one node. */
function fleetHardware(nodes: FleetNode[]): FleetHardware[] {
  const best = new Map<string, number>();
  for (const node of nodes) {
    const here = new Map<string, number>();
    for (const d of node.devices) if (d.hardwareId) here.set(d.hardwareId, (here.get(d.hardwareId) ?? 0) + 1);
    for (const [id, n] of here) best.set(id, Math.max(best.get(id) ?? 0, n));
  }
  return [...best.entries()].map(([id, perNode]) => ({ id, perNode }));
}

function EstimateView({ estimate }: { estimate: Estimate }) {
  return (
    <div data-testid="estimate">
      <h3>
        {estimate.model} · {estimate.quant} · {estimate.engine} on {estimate.count} × {estimate.hardware}:{' '}
        <StatusBadge status={estimate.fits ? 'fits' : 'does not fit'} tone={estimate.fits ? 'good' : 'bad'} />
      </h3>
      {estimate.reasons.length > 0 && (
        <ul>
          {estimate.reasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      )}
      <MemoryBar estimate={estimate} />
      <dl class="tiles">
        <div>
          <dt>Decode, one stream</dt>
          <dd>{formatNumber(estimate.decode.tokensPerSecondPerStream)} tok/s</dd>
        </div>
        <div>
          <dt>Decode, batch {estimate.batch}</dt>
          <dd>{formatNumber(estimate.decode.tokensPerSecond)} tok/s</dd>
        </div>
        <div>
          <dt>Prefill</dt>
          <dd>{formatNumber(estimate.prefill.tokensPerSecond, 0)} tok/s</dd>
        </div>
        <div>
          <dt>Time to first token</dt>
          <dd>{formatMs(estimate.timeToFirstTokenMs)}</dd>
        </div>
        <div>
          <dt>Time per output token</dt>
          <dd>{formatMs(estimate.timePerOutputTokenMs)}</dd>
        </div>
        <div>
          <dt>Concurrent streams</dt>
          <dd>{formatNumber(estimate.maxConcurrency, 0)}</dd>
        </div>
        <div>
          <dt>Cost per answer</dt>
          <dd>{formatUsd(estimate.costPerAnswerUsd)}</dd>
        </div>
        <div>
          <dt>$ / M output tokens</dt>
          <dd>{formatUsd(estimate.costPerMillionOutputTokensUsd)}</dd>
        </div>
      </dl>
    </div>
  );
}

function Planner({ catalog, nodes }: { catalog: Catalog; nodes: FleetNode[] }) {
  const fleet = fleetHardware(nodes);
  const [choice, setChoice] = useState<Choice>(() => ({
    model: preferred(
      catalog.models.map((m) => m.id),
      ['deepseek-r1-distill-qwen-7b'],
    ),
    quant: preferred(
      catalog.quantizations.map((q) => q.id),
      ['q4_k_m'],
    ),
    engine: preferred(
      catalog.engines.map((e) => e.id),
      ['llama.cpp'],
    ),
    hardware:
      fleet[0]?.id ??
      preferred(
        catalog.hardware.map((h) => h.id),
        ['h20', 'rtx-4090'],
      ),
    count: fleet[0]?.perNode ?? 1,
    batch: 1,
    contextTokens: '',
  }));
  const [estimate, setEstimate] = useState<Estimate | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      const context = Number(choice.contextTokens);
      api<Estimate>('/api/v1/planner/estimate', {
        signal: controller.signal,
        body: {
          model: choice.model,
          quant: choice.quant,
          engine: choice.engine,
          hardware: choice.hardware,
          count: choice.count,
          batch: choice.batch,
          ...(choice.contextTokens.trim() !== '' && Number.isFinite(context) && { contextTokens: context }),
        },
      }).then(
        (answer) => {
          setEstimate(answer);
          setError(null);
        },
        (caught: unknown) => {
          if (controller.signal.aborted) return;
          setEstimate(null);
          setError(caught instanceof Error ? caught.message : String(caught));
        },
      );
    }, 200);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [
    choice.model,
    choice.quant,
    choice.engine,
    choice.hardware,
    choice.count,
    choice.batch,
    choice.contextTokens,
  ]);

  const select = (
    name: 'model' | 'quant' | 'engine' | 'hardware',
    label: string,
    options: Array<{ id: string; name: string | null }>,
  ) => (
    <label>
      {label}
      <select
        name={name}
        value={choice[name]}
        onChange={(e) => setChoice({ ...choice, [name]: e.currentTarget.value })}
      >
        {options.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name && o.name !== o.id ? `${o.name} (${o.id})` : o.id}
          </option>
        ))}
      </select>
    </label>
  );

  return (
    <>
      <section class="card" aria-labelledby="estimate-title">
        <h2 id="estimate-title">Estimate</h2>
        <form class="grid" onSubmit={(e) => e.preventDefault()} data-testid="estimate-form">
          {select('model', 'Model', catalog.models)}
          {select('quant', 'Quantization', catalog.quantizations)}
          {select('engine', 'Engine', catalog.engines)}
          {select('hardware', 'Hardware', catalog.hardware)}
          <label>
            Devices
            <input
              type="number"
              min={1}
              max={64}
              name="count"
              value={choice.count}
              onInput={(e) =>
                setChoice({ ...choice, count: Math.max(1, Number(e.currentTarget.value) || 1) })
              }
            />
          </label>
          <label>
            Concurrent streams (batch)
            <input
              type="number"
              min={1}
              max={4096}
              name="batch"
              value={choice.batch}
              onInput={(e) =>
                setChoice({ ...choice, batch: Math.max(1, Number(e.currentTarget.value) || 1) })
              }
            />
          </label>
          <label>
            Context tokens
            <input
              inputMode="numeric"
              name="contextTokens"
              placeholder="model default"
              value={choice.contextTokens}
              onInput={(e) => setChoice({ ...choice, contextTokens: e.currentTarget.value })}
            />
          </label>
        </form>
        {error && (
          <p class="note note-error" role="alert">
            {error}
          </p>
        )}
        {estimate && <EstimateView estimate={estimate} />}
      </section>
      <RecommendPanel
        catalog={catalog}
        fleetHardware={fleet}
        onPick={(rec, hardware) => {
          setChoice({
            ...choice,
            model: rec.model,
            quant: rec.quant,
            engine: rec.engine,
            hardware,
            count: rec.devicesPerInstance,
          });
          document.getElementById('estimate-title')?.scrollIntoView({ behavior: 'smooth' });
        }}
      />
    </>
  );
}

/** The planner: one estimate (memory per device, speed, concurrency, cost) and the recommend list. */
export function PlannerPage() {
  const catalog = useCatalog();
  const nodes = usePoll((signal) => api<ListResponse<FleetNode>>('/api/v1/nodes', { signal }), 0, []);
  return (
    <>
      <PageTitle title="Planner" />
      <ErrorNote error={catalog.error} what="The catalog" />
      {catalog.data && nodes.data && <Planner catalog={catalog.data} nodes={nodes.data.data} />}
    </>
  );
}
