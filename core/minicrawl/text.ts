/**
 * The miniature crawl's grammar: sentence templates over the word lists in ./vocab. Every
 * generator takes an Rng and returns plain text lines; pages join them with `\n` as WET does.
 */
import { Rng } from './prng';
import {
  ADJECTIVES,
  ADVERBS,
  CONNECTIVES,
  NAME_SYLLABLES,
  NOUNS,
  ORG_SUFFIXES,
  TOPICS,
  TOPIC_NAMES,
  VERBS_PAST,
  VERBS_PRESENT,
} from './vocab';

export const capitalize = (word: string): string => word.charAt(0).toUpperCase() + word.slice(1);

export function plural(noun: string): string {
  if (/(s|x|ch|sh)$/.test(noun)) return `${noun}es`;
  if (/[^aeiou]y$/.test(noun)) return `${noun.slice(0, -1)}ies`;
  return `${noun}s`;
}

/** An invented proper name of 2–3 syllables. */
export function inventedName(rng: Rng): string {
  const count = rng.chance(0.6) ? 2 : 3;
  let name = '';
  for (let i = 0; i < count; i++) name += rng.pick(NAME_SYLLABLES);
  return capitalize(name);
}

export const person = (rng: Rng): string => `${inventedName(rng)} ${inventedName(rng)}`;
export const place = (rng: Rng): string =>
  rng.chance(0.7) ? inventedName(rng) : `${inventedName(rng)} Valley`;
export const org = (rng: Rng): string => `${inventedName(rng)} ${rng.pick(ORG_SUFFIXES)}`;
export const year = (rng: Rng): string => String(rng.int(1650, 2019));

export function topicWords(topic: string): readonly string[] {
  const list = TOPICS[topic];
  if (list === undefined) throw new Error(`unknown topic ${topic}`);
  return list;
}

export const randomTopic = (rng: Rng): string => rng.pick(TOPIC_NAMES);

const TEMPLATES = [
  'The {A} {T} {V} the {A} {N} of the {N}.',
  'In {Y}, {P} {VD} a {A} {T} near {L}.',
  '{C}, the {N} {V} how {Ts} and {Ns} interact over time.',
  'According to {P} of the {O}, the {T} {V} a {A} {N}.',
  'Many {Ts} in {L} {ADV} depend on {A} {Ns}, and the {N} {V} that.',
  'This {N} {V} why the {T} remained {A} for {#} years.',
  '{P} {VD} the {T} in {Y} and later {VD} a {A} {N} about it.',
  'What {V} the {A} {T} is not its {N} but its {N}.',
  'There are at least {#} {A} {Ts} in the {N}, each with its own {N}.',
  'The {N} of a {T} is {ADV} {A}, and the {N} {V} the {N}.',
  'Visitors to {L} often ask whether the {T} {V} the {N}.',
  'We {VD} the {T} for {#} weeks and {VD} that the {N} was {A}.',
  'I {VD} my first {T} in {Y}, and it {VD} the way I think about {Ns}.',
  'If the {N} is {A}, the {T} {V} a {A} {N}; otherwise it {V} the {N}.',
  'Researchers at the {O} {VD} {#} {Ts} and {VD} a {A} {N} in the {N}.',
  'The {A} {N} {V} the {T}, which {V} the {A} {N} of {L}.',
  'Between {Y} and {Y}, the {T} {VD} from a {A} {N} into a {A} {N}.',
  'It is {A} to remember that every {T} {V} a {N} and a {N}.',
  '{P}, a {A} {T} expert, {VD} that the {N} {V} the {N}.',
  'Its {N} {V} the {A} {T}, but its {N} {V} the {A} {T}.',
  'For most readers the {A} {N} {V} little, yet the {T} {ADV} {V} it.',
  'A {A} {T} {ADV} {V} more than a {A} {N} does.',
  'The {O} {VD} its {A} {N} on the {T} in {Y}.',
  '{C}, {P} {VD} the {Ns} of {L} with {A} care.',
];

const NARRATIVE = [
  '"The {T} is {A}," said {F}, looking at the {N}.',
  '{F} {VD} the {N} and waited for the {A} {N} to pass.',
  'When the {N} came, {F} {VD} a {A} {T} by the {N}.',
  '"Do you remember the {T} at {L}?" asked {F}.',
  '{F} {ADV} {VD} that the {N} had changed since {Y}.',
  'That night {F} {VD} about the {A} {T} and the {N} it had cost.',
];

function fill(rng: Rng, template: string, topic: string, hero: string): string {
  const topicNouns = topicWords(topic);
  const noun = (): string => (rng.chance(0.4) ? rng.pick(topicNouns) : rng.pick(NOUNS));
  const text = template.replace(/\{(\w+|#)\}/g, (_, slot: string) => {
    switch (slot) {
      case 'A':
        return rng.pick(ADJECTIVES);
      case 'ADV':
        return rng.pick(ADVERBS);
      case 'C':
        return capitalize(rng.pick(CONNECTIVES));
      case 'N':
        return noun();
      case 'Ns':
        return plural(noun());
      case 'T':
        return rng.pick(topicNouns);
      case 'Ts':
        return plural(rng.pick(topicNouns));
      case 'V':
        return rng.pick(VERBS_PRESENT);
      case 'VD':
        return rng.pick(VERBS_PAST);
      case 'P':
        return person(rng);
      case 'F':
        return hero;
      case 'L':
        return place(rng);
      case 'O':
        return org(rng);
      case 'Y':
        return year(rng);
      case '#':
        return String(rng.int(2, 400));
      default:
        throw new Error(`unknown slot ${slot}`);
    }
  });
  return capitalize(text);
}

export function sentence(rng: Rng, topic: string, narrative = false, hero = ''): string {
  const template = narrative && rng.chance(0.5) ? rng.pick(NARRATIVE) : rng.pick(TEMPLATES);
  return fill(rng, template, topic, hero);
}

export function paragraph(rng: Rng, topic: string, sentences: number, narrative = false, hero = ''): string {
  const out: string[] = [];
  for (let i = 0; i < sentences; i++) {
    // Drift to a second topic now and then so pages are not single-topic bags of words.
    const t = rng.chance(0.15) ? randomTopic(rng) : topic;
    out.push(sentence(rng, t, narrative, hero));
  }
  return out.join(' ');
}

export function title(rng: Rng, topic: string): string {
  const t = rng.pick(topicWords(topic));
  return rng.pick([
    `The ${capitalize(rng.pick(ADJECTIVES))} ${capitalize(plural(t))} of ${place(rng)}`,
    `How ${capitalize(plural(t))} ${capitalize(rng.pick(VERBS_PRESENT).replace(/s$/, ''))} the ${capitalize(rng.pick(NOUNS))}`,
    `${capitalize(t)} and ${capitalize(rng.pick(NOUNS))}: A ${capitalize(rng.pick(ADJECTIVES))} History`,
    `Notes on a ${capitalize(rng.pick(ADJECTIVES))} ${capitalize(t)}`,
    `${person(rng)} and the ${capitalize(t)}`,
  ]);
}

/** Multi-paragraph prose: a title line then `paragraphs` paragraphs, one per line. */
export function proseLines(rng: Rng, topic: string, paragraphs: number): string[] {
  const lines = [title(rng, topic)];
  for (let i = 0; i < paragraphs; i++) lines.push(paragraph(rng, topic, rng.int(2, 7)));
  return lines;
}
