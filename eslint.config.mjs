// Lint and format (dprint through @effect/eslint-plugin) as the Effect monorepo does.
import * as effectEslint from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

// A barrel import loads every module of its package: a worker thread that imported
// @effect/platform-node's index spent ~0.4 s of CPU at start on its HTTP stack.
const barrels = ["effect", "@effect/platform", "@effect/platform-node"].map((name) => ({
  name,
  allowTypeImports: true,
  message: `import the module you use (e.g. "${name}/Effect"), not the ${name} index: threads load what they import`
}))

export default [
  { ignores: ["**/node_modules", "**/dist", ".cache/**", "tools/kafka/**", "bench/peers/**"] },
  ...tseslint.configs.recommended,
  ...effectEslint.configs.dprint,
  {
    files: ["**/*.ts", "**/*.mjs"],
    rules: {
      "@effect/dprint": [
        "error",
        {
          config: {
            indentWidth: 2,
            lineWidth: 120,
            semiColons: "asi",
            quoteStyle: "alwaysDouble",
            trailingCommas: "never",
            operatorPosition: "maintain",
            "arrowFunction.useParentheses": "force"
          }
        }
      ],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-namespace": "off",
      "no-constant-condition": "off",
      // `pipe` forwards `arguments` as Effect's own Pipeable does; generators capture `this` as `self`
      "prefer-rest-params": "off",
      "@typescript-eslint/no-this-alias": "off"
    }
  },
  {
    // the store test kit is test code, and loads no faster for it
    files: ["packages/*/src/**/*.ts"],
    ignores: ["packages/store-testkit/**"],
    rules: { "no-restricted-imports": ["error", { paths: barrels }] }
  },
  {
    // the engine runs anywhere Effect runs: Node-only code lives in @sluice/platform-node
    files: ["packages/core/src/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        paths: barrels,
        patterns: [{
          group: ["node:*"],
          message: "core imports no node: module; put Node code in @sluice/platform-node"
        }]
      }]
    }
  }
]
