/**
 * Enforces DESIGN.md's dependency direction and forbids import cycles:
 *   spec ← catalog ← planner; spec ← engines ← worker; spec, planner, store ← control;
 *   spec ← gateway; cli may import everything. telemetry (logging) and http (node:http helpers: bodies,
 *   errors, SSE) are base layers like spec.
 */
const layer = (name, allowed) => ({
  name: `${name}-layering`,
  comment: `src/${name} may import only: ${allowed.join(', ') || 'nothing of ours'}`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...allowed.map((a) => `^src/${a}/`)] },
});

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } },
    layer('spec', []),
    layer('telemetry', []),
    layer('http', ['spec', 'telemetry']),
    layer('catalog', ['spec', 'telemetry']),
    layer('planner', ['spec', 'catalog']),
    layer('engines', ['spec', 'telemetry', 'http', 'catalog']),
    layer('worker', ['spec', 'telemetry', 'http', 'catalog', 'engines']),
    layer('store', ['spec', 'telemetry']),
    layer('control', ['spec', 'telemetry', 'http', 'catalog', 'planner', 'store']),
    layer('gateway', ['spec', 'telemetry', 'http']),
    layer('bench', ['spec', 'telemetry', 'http', 'catalog', 'planner']),
    {
      name: 'planner-is-pure',
      comment: 'the planner does no I/O',
      severity: 'error',
      from: { path: '^src/planner/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'gateway-never-imports-engines',
      severity: 'error',
      from: { path: '^src/gateway/' },
      to: { path: '^src/(engines|worker)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
