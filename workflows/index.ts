export { buildMixture, progressQuery } from './build-mixture';
export type { BuildMixtureResult } from './build-mixture';
export type { BuildMixtureProgress } from './progress';
