// ESLint flat config: typescript-eslint recommended rules; `any` is an error in source files.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-bench/**', 'node_modules/**', 'coverage/**', 'reports/**', '.stryker-tmp/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-empty': ['error', { allowEmptyCatch: false }],
    },
  },
  {
    // The app (and config) see the library only through its barrel, src/cache/index.ts; bench and tests may reach inside.
    files: ['src/**/*.ts', 'config/**/*.ts'],
    ignores: ['src/cache/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)cache/(?!index\\.js$).+',
              message: 'Import the market-cache library only through src/cache/index.ts.',
            },
          ],
        },
      ],
    },
  },
);
