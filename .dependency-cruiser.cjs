/**
 * The architecture's import rules (docs/architecture.md), checked in CI by
 * `npm run check:deps`. A violation fails the run with the rule's name and the offending import.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles: each module can be understood (and loaded) before the ones that use it.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'subscribers-speak-only-their-protocol',
      severity: 'error',
      comment: 'Subscribers never import sinks, replay stores or the pipeline: the pipeline alone decides positions.',
      from: { path: '^src/subscribers/' },
      to: { path: '^src/(sinks|replay|pipeline|deadletter/file-store)' },
    },
    {
      name: 'sinks-only-write',
      severity: 'error',
      comment: 'Sinks never import replay stores, subscribers or the pipeline: they write and report per-event outcomes.',
      from: { path: '^src/sinks/' },
      to: { path: '^src/(replay|subscribers|pipeline)/' },
    },
    {
      name: 'replay-stores-stand-alone',
      severity: 'error',
      comment: 'Replay stores know nothing of subscribers, sinks or the pipeline.',
      from: { path: '^src/replay/' },
      to: { path: '^src/(subscribers|sinks|pipeline)/' },
    },
    {
      name: 'emulator-only-through-lazy-cli',
      severity: 'error',
      comment:
        'Product code never imports the emulator; only the CLI entry points of `sfbridge emulator` and `sfbridge demo` do (loaded lazily by cli/main.ts).',
      from: { path: '^src/', pathNot: '^src/(emulator/|cli/(emulator|demo)\\.ts$)' },
      to: { path: '^src/emulator/' },
    },
    {
      name: 'cli-loads-emulator-lazily',
      severity: 'error',
      comment: 'cli/main.ts reaches demo and emulator only through dynamic import().',
      from: { path: '^src/cli/main\\.ts$' },
      to: { path: '^src/cli/(demo|emulator)\\.ts$', dependencyTypesNot: ['dynamic-import'] },
    },
    {
      name: 'emulator-stands-alone',
      severity: 'error',
      comment: 'The emulator plays Salesforce: it never imports the bridge (pipeline, subscribers, sinks, stores, auth).',
      from: { path: '^src/emulator/' },
      to: { path: '^src/(pipeline|subscribers|sinks|replay|deadletter|auth|cli)/' },
    },
    {
      name: 'config-schema-is-a-leaf',
      severity: 'error',
      comment: 'config/schema.ts is assembled by the registry; it imports no component.',
      from: { path: '^src/config/schema\\.ts$' },
      to: { path: '^src/', pathNot: '^src/config/duration\\.ts$' },
    },
    {
      name: 'stages-only-shape-the-source',
      severity: 'error',
      comment: 'Source stages (src/stages/) wrap a subscriber with Salesforce calls; like subscribers they never import the pipeline, sinks or replay stores.',
      from: { path: '^src/stages/' },
      to: { path: '^src/(pipeline|sinks|replay)/' },
    },
    {
      name: 'shaping-sees-only-envelopes',
      comment:
        'Shaping (src/shaping/: filters, fields, transforms) works on envelopes and its config; it never imports the pipeline, sinks, subscribers, stages, replay stores or Salesforce clients.',
      severity: 'error',
      from: { path: '^src/shaping/' },
      to: { path: '^src/(pipeline|sinks|subscribers|stages|replay|salesforce|deadletter)/' },
    },
    {
      name: 'orgs-speak-no-protocol',
      severity: 'error',
      comment: 'The per-org services (src/orgs.ts) use the Salesforce clients of src/salesforce/, never a subscriber\'s folder.',
      from: { path: '^src/orgs\\.ts$' },
      to: { path: '^src/subscribers/' },
    },
    {
      name: 'config-below-registry',
      severity: 'error',
      comment: 'src/config/ is below the registry (the registry assembles the schema from it); loading a config file is above both (src/config-file.ts).',
      from: { path: '^src/config/' },
      to: { path: '^src/(registry|config-file)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
