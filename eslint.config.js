// ESLint for the browser code (src/timeseal/server/web/static/js, ES modules run as they are,
// no build step) and its tests (tests/js, node --test). `make lint` runs it.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    ignores: [".venv/**", "node_modules/**", "src/timeseal/server/web/static/vendor/**", "tests/fixtures/**"],
  },
  js.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      eqeqeq: "error",
      "no-var": "error",
      "prefer-const": "error",
      "no-implicit-globals": "error",
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "all" }],
      "no-shadow": "error",
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-console": "error",
      // The house rules for Python hold here too: modules under 400 lines, functions under 60.
      "max-lines": ["error", { max: 400, skipBlankLines: true, skipComments: true }],
      "max-lines-per-function": ["error", { max: 60, skipBlankLines: true, skipComments: true }],
      "no-restricted-syntax": [
        "error",
        {
          selector: "MemberExpression[property.name='innerHTML']",
          message: "Build DOM nodes (textContent, append): no HTML from strings under the CSP.",
        },
      ],
    },
  },
  {
    files: ["src/timeseal/server/web/static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.browser, hashwasm: "readonly" },
    },
  },
  {
    files: ["tests/js/**/*.js", "eslint.config.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.node },
  },
];
