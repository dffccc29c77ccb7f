// One vitest project per package; each package's own vitest.config.ts applies.
export default ["packages/*"]
