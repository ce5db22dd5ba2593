/**
 * Stand-ins for the paper's high-quality corpora: WebText2 (clean web articles), Books1 and
 * Books2 (long narrative), Wikipedia (` = Title = ` articles with ` = = Section = = ` headings).
 * Each dataset carries a few planted exact and near duplicates of its own documents.
 */
import { nearDuplicate } from './neardup';
import { Rng } from './prng';
import { capitalize, inventedName, paragraph, proseLines, randomTopic, title } from './text';
import { NOUNS } from './vocab';

export const REFERENCE_DATASETS = ['webtext2', 'books1', 'books2', 'wikipedia'] as const;
export type ReferenceDataset = (typeof REFERENCE_DATASETS)[number];

export interface DupInfo {
  dupGroup: string | null;
  dupRole: 'original' | 'exact' | 'near' | null;
  targetJaccard: number | null;
  actualJaccard: number | null;
  /** Id of the original (a record id for Common Crawl, a document id for reference data). */
  dupOf: string | null;
  dupOfDataset: string | null;
  dupScope: 'within_crawl' | 'cross_crawl' | 'webtext' | 'within_dataset' | null;
}

export const NO_DUP: DupInfo = {
  dupGroup: null,
  dupRole: null,
  targetJaccard: null,
  actualJaccard: null,
  dupOf: null,
  dupOfDataset: null,
  dupScope: null,
};

export interface ReferenceDoc extends DupInfo {
  dataset: ReferenceDataset;
  id: string;
  title: string;
  text: string;
}

/** Documents per dataset at size 1 (linear in size). */
export const REFERENCE_DOCS_PER_SIZE: Readonly<Record<ReferenceDataset, number>> = {
  webtext2: 400,
  books1: 12,
  books2: 24,
  wikipedia: 300,
};

const SECTIONS = ['History', 'Description', 'Background', 'Reception', 'Legacy', 'Geography', 'Notes'];

function webtextDoc(rng: Rng): { title: string; text: string } {
  const lines = proseLines(rng, randomTopic(rng), rng.int(2, 10));
  return { title: lines[0] ?? '', text: `${lines.join('\n')}\n` };
}

function book(rng: Rng, chapters: number): { title: string; text: string } {
  const topic = randomTopic(rng);
  const hero = inventedName(rng);
  const bookTitle = title(rng, topic);
  const lines = [bookTitle.toUpperCase(), `by ${inventedName(rng)} ${inventedName(rng)}`, ''];
  for (let c = 1; c <= chapters; c++) {
    lines.push(`CHAPTER ${c}`, '');
    for (let p = rng.int(4, 9); p > 0; p--) lines.push(paragraph(rng, topic, rng.int(4, 9), true, hero), '');
  }
  return { title: bookTitle, text: lines.join('\n') };
}

function article(rng: Rng): { title: string; text: string } {
  const topic = randomTopic(rng);
  const name = rng.chance(0.5) ? inventedName(rng) : `${inventedName(rng)} ${capitalize(rng.pick(NOUNS))}`;
  const lines = [` = ${name} = `, '', paragraph(rng, topic, rng.int(3, 6)), ''];
  for (const section of rng.shuffle([...SECTIONS]).slice(0, rng.int(1, 4))) {
    lines.push(` = = ${section} = = `, '');
    for (let p = rng.int(1, 3); p > 0; p--) lines.push(paragraph(rng, topic, rng.int(3, 7)), '');
  }
  return { title: name, text: lines.join('\n') };
}

function generateOne(rng: Rng, dataset: ReferenceDataset): { title: string; text: string } {
  switch (dataset) {
    case 'webtext2':
      return webtextDoc(rng);
    case 'books1':
      return book(rng, rng.int(8, 14));
    case 'books2':
      return book(rng, rng.int(4, 8));
    case 'wikipedia':
      return article(rng);
  }
}

/** Planted within-dataset duplicates per size unit: [target Jaccard (1 = exact), …]. */
const WITHIN_DATASET: Readonly<Record<ReferenceDataset, readonly number[]>> = {
  webtext2: [1, 0.9, 0.7],
  books1: [0.95],
  books2: [1],
  wikipedia: [1, 0.8],
};

export function generateReference(seed: number, size: number): Record<ReferenceDataset, ReferenceDoc[]> {
  const out = {} as Record<ReferenceDataset, ReferenceDoc[]>;
  for (const dataset of REFERENCE_DATASETS) {
    const docs: ReferenceDoc[] = [];
    const count = REFERENCE_DOCS_PER_SIZE[dataset] * size;
    for (let i = 0; i < count; i++) {
      const { title: docTitle, text } = generateOne(Rng.for(seed, 'reference', dataset, i), dataset);
      docs.push({
        dataset,
        id: `${dataset}-${String(i).padStart(6, '0')}`,
        title: docTitle,
        text,
        ...NO_DUP,
      });
    }
    const rng = Rng.for(seed, 'reference-dups', dataset);
    const targets = Array.from({ length: size }, () => WITHIN_DATASET[dataset]).flat();
    targets.forEach((target, g) => {
      const original = docs[g * 2];
      if (original === undefined) return;
      const group = `${dataset}-dup-${String(g).padStart(4, '0')}`;
      Object.assign(original, { dupGroup: group, dupRole: 'original', dupScope: 'within_dataset' });
      const copy =
        target === 1 ? { text: original.text, actualJaccard: 1 } : nearDuplicate(rng, original.text, target);
      docs.push({
        dataset,
        id: `${dataset}-${String(docs.length).padStart(6, '0')}`,
        title: original.title,
        text: copy.text,
        dupGroup: group,
        dupRole: target === 1 ? 'exact' : 'near',
        targetJaccard: target,
        actualJaccard: copy.actualJaccard,
        dupOf: original.id,
        dupOfDataset: dataset,
        dupScope: 'within_dataset',
      });
    });
    out[dataset] = docs;
  }
  return out;
}
