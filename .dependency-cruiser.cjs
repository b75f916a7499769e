/**
 * The layering of ../shared/DESIGN.md, checked by `npm run lint`:
 * - no import cycles;
 * - a feature folder (access, audit, backup, inference, monitoring, registry, retrain, rollout,
 *   training, webhooks) imports another feature only through that feature's index.ts;
 * - features never import the server or the CLI; the server never imports the CLI;
 * - lib/ (shared leaf helpers) and config imports no feature.
 */
const FEATURES = '(access|audit|backup|inference|monitoring|registry|retrain|rollout|training|webhooks)';

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'Import cycles make load order and ownership unclear; put the shared type in a leaf module.', from: { path: '^src/' }, to: { circular: true } },
    {
      name: 'feature-through-index',
      severity: 'error',
      comment: 'A feature imports another feature only through its index.ts (DESIGN.md, Layout).',
      from: { path: `^src/${FEATURES}/` },
      to: { path: `^src/${FEATURES}/(?!index\\.ts$)`, pathNot: ['^src/$1/'] },
    },
    {
      name: 'features-not-server-or-cli',
      severity: 'error',
      comment: 'The server and CLI compose features; features do not reach up into them.',
      from: { path: `^src/(${FEATURES.slice(1, -1)}|lib|db)/` },
      to: { path: '^src/(server|cli)/' },
    },
    { name: 'server-not-cli', severity: 'error', from: { path: '^src/server/' }, to: { path: '^src/cli/' } },
    {
      name: 'lib-is-a-leaf',
      severity: 'error',
      comment: 'lib/ holds helpers every feature may use; it depends on no feature.',
      from: { path: '^src/lib/' },
      to: { path: `^src/(${FEATURES.slice(1, -1)}|server|cli|db)/` },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
