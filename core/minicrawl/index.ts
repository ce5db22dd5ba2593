export { generateMiniCrawl, type MiniCrawlOptions, type BrokenFile } from './generate';
export type { MiniCrawlSummary, DocumentRow, ReferenceRow } from './summary';
export { sparkTokens, tokenSet, setJaccard, sparkJaccard } from './jaccard';
