export { buildMixture, progressQuery } from './build-mixture';
export { downloadCrawl, downloadProgressQuery } from './download-crawl';
export type { BuildMixtureResult } from './build-mixture';
export type { DownloadCrawlProgress, DownloadCrawlResult } from './download-crawl';
export type { BuildMixtureProgress } from './progress';
export type { DownloadLimits, RunControlReply, RunControlState } from './controls';
