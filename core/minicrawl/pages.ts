/**
 * Common Crawl pages of each kind. High quality: prose, sometimes wrapped in site chrome. Low
 * quality: boilerplate, keyword spam, navigation lists, short fragments, non-English, empty and
 * giant pages. Classes share vocabulary and overlap in length on purpose.
 */
import { Rng } from './prng';
import {
  capitalize,
  inventedName,
  org,
  paragraph,
  person,
  place,
  plural,
  proseLines,
  randomTopic,
  sentence,
  title,
  topicWords,
  year,
} from './text';
import { ADJECTIVES, BOILERPLATE, GERMAN, NAV_WORDS, NOUNS, SPAM_WORDS, SPANISH } from './vocab';

export type PageKind =
  'prose' | 'boilerplate' | 'spam' | 'navigation' | 'fragment' | 'non_english' | 'empty' | 'giant';

export interface Page {
  kind: PageKind;
  quality: 'high' | 'low';
  /** ISO 639-3 of the main language; null for empty pages. */
  lang: string | null;
  /** The WARC-Identified-Content-Language value (null: no header). */
  langHeader: string | null;
  topic: string;
  text: string;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September'];

const join = (lines: readonly string[]): string => (lines.length === 0 ? '' : `${lines.join('\n')}\n`);

function chromeLines(rng: Rng, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(rng.pick(BOILERPLATE));
  return out;
}

const copyright = (rng: Rng): string => `© ${rng.int(2005, 2019)} ${org(rng)}. All rights reserved.`;

export function prosePage(rng: Rng, topic = randomTopic(rng)): Page {
  const lines = proseLines(rng, topic, rng.int(1, 9));
  if (rng.chance(0.45)) {
    lines.unshift(...chromeLines(rng, rng.int(1, 3)));
    lines.push(...chromeLines(rng, rng.int(0, 3)), copyright(rng));
  }
  return { kind: 'prose', quality: 'high', lang: 'eng', langHeader: 'eng', topic, text: join(lines) };
}

function boilerplatePage(rng: Rng, topic: string): Page {
  const lines = rng.shuffle([...BOILERPLATE]).slice(0, rng.int(4, 10));
  const insert = (line: string): void => {
    lines.splice(rng.int(0, lines.length), 0, line);
  };
  insert(`Posted on ${rng.pick(MONTHS)} ${rng.int(1, 28)}, ${year(rng)} by ${person(rng)}`);
  insert(`Related: ${title(rng, topic)}`);
  insert(`${rng.int(0, 500)} comments · ${rng.int(0, 9000)} views · ${inventedName(rng)} ${rng.pick(NOUNS)}`);
  for (let i = rng.int(1, 3); i > 0; i--) insert(sentence(rng, topic));
  lines.push(`Tags: ${Array.from({ length: rng.int(3, 8) }, () => rng.pick(topicWords(topic))).join(', ')}`);
  lines.push(copyright(rng));
  return { kind: 'boilerplate', quality: 'low', lang: 'eng', langHeader: 'eng', topic, text: join(lines) };
}

function spamPage(rng: Rng, topic: string): Page {
  const keyword = rng.pick(topicWords(topic));
  const where = place(rng);
  const lines = [
    `${capitalize(rng.pick(SPAM_WORDS))} ${capitalize(keyword)} ${capitalize(rng.pick(SPAM_WORDS))} ${where}`,
  ];
  for (let i = rng.int(2, 12); i > 0; i--) {
    const words: string[] = [];
    for (let j = rng.int(8, 40); j > 0; j--) {
      const r = rng.next();
      if (r < 0.35) words.push(keyword);
      else if (r < 0.7) words.push(rng.pick(SPAM_WORDS));
      else if (r < 0.8) words.push(rng.pick(topicWords(topic)));
      else if (r < 0.87) words.push(where);
      else if (r < 0.94) words.push(rng.pick(NOUNS));
      else words.push(`${rng.int(5, 999)}$`);
    }
    lines.push(words.join(' '));
  }
  if (rng.chance(0.4)) lines.push(sentence(rng, topic));
  if (rng.chance(0.5)) lines.push(...chromeLines(rng, rng.int(1, 3)));
  return { kind: 'spam', quality: 'low', lang: 'eng', langHeader: 'eng', topic, text: join(lines) };
}

function navigationPage(rng: Rng, topic: string): Page {
  const site = inventedName(rng);
  const lines = [`${site} - ${capitalize(plural(rng.pick(topicWords(topic))))}`];
  for (let i = rng.int(8, 40); i > 0; i--) {
    const r = rng.next();
    if (r < 0.3) lines.push(Array.from({ length: rng.int(3, 9) }, () => rng.pick(NAV_WORDS)).join(' | '));
    else if (r < 0.55)
      lines.push(
        `${capitalize(rng.pick(ADJECTIVES))} ${capitalize(plural(rng.pick(topicWords(topic))))} (${rng.int(1, 300)})`,
      );
    else if (r < 0.7) lines.push(`${rng.pick(MONTHS)} ${year(rng)} (${rng.int(1, 40)})`);
    else if (r < 0.8) lines.push(`« Previous 1 2 3 … ${rng.int(4, 90)} Next »`);
    else if (r < 0.9) lines.push(`${capitalize(rng.pick(NOUNS))} ${capitalize(rng.pick(topicWords(topic)))}`);
    else lines.push(rng.pick(NAV_WORDS));
  }
  if (rng.chance(0.3)) lines.push(sentence(rng, topic));
  lines.push(copyright(rng));
  return { kind: 'navigation', quality: 'low', lang: 'eng', langHeader: 'eng', topic, text: join(lines) };
}

function fragmentPage(rng: Rng, topic: string): Page {
  const t = rng.pick(topicWords(topic));
  const options = [
    `${capitalize(t)} - ${org(rng)}`,
    `Page ${rng.int(1, 40)} of ${rng.int(40, 90)} in ${plural(rng.pick(NOUNS))}`,
    `Loading ${rng.pick(NOUNS)} ${rng.hex(4)}...`,
    `404 Not Found: ${rng.pick(NOUNS)} ${plural(t)} at ${place(rng)}`,
    `${capitalize(rng.pick(ADJECTIVES))} ${t} ${rng.pick(NOUNS)} #${rng.hex(6)}`,
    `Session expired for ${person(rng)}. Ref ${rng.hex(10)}`,
    `${person(rng)} · ${rng.int(1, 28)} ${rng.pick(MONTHS)} ${year(rng)}`,
    `${capitalize(rng.pick(SPAM_WORDS))} ${t} at ${place(rng)}`,
  ];
  const lines = rng.shuffle(options).slice(0, rng.int(1, 3));
  lines.push(
    `${capitalize(rng.pick(ADJECTIVES))} ${rng.pick(NOUNS)} ${inventedName(rng)} ${rng.pick(topicWords(randomTopic(rng)))}`,
  );
  if (rng.chance(0.3)) lines.push(rng.pick(BOILERPLATE));
  return { kind: 'fragment', quality: 'low', lang: 'eng', langHeader: 'eng', topic, text: join(lines) };
}

type Lexicon = typeof GERMAN;

/** A noun, often inflected or (in German) compounded, so the vocabulary is large. */
function foreignNoun(rng: Rng, lex: Lexicon, lang: 'deu' | 'spa'): string {
  const noun = rng.pick(lex.nouns);
  if (lang === 'deu' && rng.chance(0.4)) return `${noun}${rng.pick(lex.nouns).toLowerCase()}`;
  if (lang === 'spa' && rng.chance(0.4)) return /[aeiouáéó]$/.test(noun) ? `${noun}s` : `${noun}es`;
  return noun;
}

function foreignSentence(rng: Rng, lex: Lexicon, lang: 'deu' | 'spa', topic: string): string {
  const words: string[] = [];
  for (let i = rng.int(6, 16); i > 0; i--) {
    const r = rng.next();
    if (r < 0.35) words.push(rng.pick(lex.function));
    else if (r < 0.65) words.push(foreignNoun(rng, lex, lang));
    else if (r < 0.8) words.push(rng.pick(lex.verbs));
    else if (r < 0.9) words.push(rng.pick(lex.adjectives));
    else if (r < 0.96) words.push(inventedName(rng));
    else if (r < 0.98) words.push(String(rng.int(2, 2019)));
    else words.push(rng.pick(topicWords(topic))); // loanwords shared with English pages
  }
  return `${capitalize(words.join(' '))}.`;
}

function nonEnglishPage(rng: Rng, topic: string): Page {
  const [lang, lex] = rng.chance(0.5) ? (['deu', GERMAN] as const) : (['spa', SPANISH] as const);
  const lines: string[] = [];
  for (let p = rng.int(1, 7); p > 0; p--) {
    lines.push(Array.from({ length: rng.int(2, 6) }, () => foreignSentence(rng, lex, lang, topic)).join(' '));
  }
  let langHeader: string = lang;
  if (rng.chance(0.3)) {
    lines.push(...chromeLines(rng, rng.int(1, 3)), paragraph(rng, topic, 1));
    langHeader = `${lang},eng`;
  }
  return { kind: 'non_english', quality: 'low', lang, langHeader, topic, text: join(lines) };
}

export function emptyPage(): Page {
  return { kind: 'empty', quality: 'low', lang: null, langHeader: null, topic: '', text: '' };
}

/** A catalogue dump of about `bytes` bytes (several MB). */
export function giantPage(rng: Rng, bytes: number): Page {
  const topic = randomTopic(rng);
  const lines: string[] = [`Product catalogue ${org(rng)} - full export`];
  let size = lines[0]?.length ?? 0;
  while (size < bytes) {
    const line = `SKU-${rng.hex(8)} ${capitalize(rng.pick(ADJECTIVES))} ${rng.pick(topicWords(topic))} ${rng.pick(NOUNS)} ${rng.int(1, 999)}.${rng.int(10, 99)} USD ${rng.chance(0.8) ? 'in stock' : 'sold out'}`;
    lines.push(line);
    size += line.length + 1;
  }
  return { kind: 'giant', quality: 'low', lang: 'eng', langHeader: 'eng', topic, text: join(lines) };
}

/** Share of each kind among ordinary (non-planted) pages. */
export const KIND_WEIGHTS: ReadonlyArray<readonly [PageKind, number]> = [
  ['prose', 0.44],
  ['boilerplate', 0.14],
  ['spam', 0.1],
  ['navigation', 0.1],
  ['fragment', 0.1],
  ['non_english', 0.12],
];

export function randomPage(rng: Rng, kind: PageKind): Page {
  const topic = randomTopic(rng);
  switch (kind) {
    case 'prose':
      return prosePage(rng, topic);
    case 'boilerplate':
      return boilerplatePage(rng, topic);
    case 'spam':
      return spamPage(rng, topic);
    case 'navigation':
      return navigationPage(rng, topic);
    case 'fragment':
      return fragmentPage(rng, topic);
    case 'non_english':
      return nonEnglishPage(rng, topic);
    case 'empty':
      return emptyPage();
    case 'giant':
      return giantPage(rng, 3_000_000);
  }
}
