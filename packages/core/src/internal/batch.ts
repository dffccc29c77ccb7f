/**
 * A run of items read from one partition, with the position after each item.
 * Positions are computed on demand: most batches are split at most once.
 * Public as `Input.Batch`.
 */
export interface Batch<A> {
  readonly items: ReadonlyArray<A>
  readonly positionAfter: (index: number) => unknown
}
