// Flat config: typescript-eslint's recommended rules, plus the layering of
// docs/architecture.md made mechanical — shared/ imports neither api/ nor worker/, api/ never
// loads exiftool or sharp.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'data/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/api/**', '**/worker/**'], message: 'shared/ must not import api/ or worker/' },
            {
              group: ['sharp', 'exiftool-vendored', 'hono', 'hono/*'],
              message: 'shared/ stays free of imaging, metadata and HTTP libraries',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/worker/**', 'sharp', 'exiftool-vendored'],
              message: 'api/ is HTTP only: images are decoded and metadata read in worker/',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['worker/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/api/**', 'hono', 'hono/*'], message: 'worker/ never speaks HTTP to clients' }] },
      ],
    },
  },
);
