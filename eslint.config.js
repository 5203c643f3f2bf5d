// ESLint flat config: @eslint/js + typescript-eslint recommended (syntax-only, no type information, so a lint of the
// whole repo takes seconds), with the few rules relaxed that this codebase breaks on purpose (noted per rule).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/node_modules/', '**/dist/', '.build/', 'reports/', '.cluster/', 'secrets/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // wire formats (Docker, InfluxDB, Elasticsearch, Misago JSON) are read as `any` at their edges on purpose
      '@typescript-eslint/no-explicit-any': 'off',
      // `_`-prefixed arguments and rest siblings (`const { a, ...rest } = x`) are deliberate; warn, not fail, so a
      // leftover parameter does not block CI
      '@typescript-eslint/no-unused-vars': ['warn', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      'prefer-const': 'warn',
      // variables are initialised where declared even when every branch assigns them (readability over a lint)
      'no-useless-assignment': 'off',
      // errors are re-thrown with the cause's message folded into a clearer one; `cause` is not required
      'preserve-caught-error': 'off',
    },
  },
  {
    files: ['services/web-client/src/**'],
    languageOptions: { globals: { ...globals.browser } },
  },
);
