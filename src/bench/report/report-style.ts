/** The report's inline stylesheet (no web fonts, no external resources; prints well). */
export const reportStyle = `
:root { color-scheme: light; --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --head: #f3f4f6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; padding: 24px 32px; max-width: 1280px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: var(--muted); margin: 0 0 12px; } code { font: 12px ui-monospace, Menlo, Consolas, monospace; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: var(--head); font-weight: 600; } td.text, th.text { text-align: left; }
dl.config { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
dl.config dt { color: var(--muted); } dl.config dd { margin: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
svg.chart { border: 1px solid var(--line); border-radius: 4px; background: #fff; max-width: 100%; height: auto; }
svg .grid { stroke: var(--line); } svg .axis { stroke: #9ca3af; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); } svg .chart-title { font-size: 13px; font-weight: 600; fill: var(--fg); }
svg .axis-title { font-size: 11px; fill: var(--fg); } svg .legend { fill: var(--fg); } svg .bar { fill: #60a5fa; }
.empty, .ok { color: var(--muted); } .bad { color: #b91c1c; }
section.step { break-inside: avoid; }
`;
