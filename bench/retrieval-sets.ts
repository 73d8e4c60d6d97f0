// Retrieval sets for the hybrid-search bench, generated deterministically (seeded PRNG, no
// network) from Princeton WordNet 3.0 (test/helpers/wordnet.ts) plus hand-written sentence
// templates.
//
//   wordnetSet()      (a) query = a noun synset's synonyms, answer = its gloss (2,000 synsets)
//   identifierSet()   (b) ~600 sentences carrying one identifier each (ticket codes with near-miss
//                         siblings, hostnames, rare surnames, version strings, snake_case / arch
//                         tokens) among 3,000 WordNet-gloss distractors; query = the identifier
//                         alone, or with a couple of words
//   noSharedWordSet() (c) WordNet pairs whose synonyms and gloss share no word after lower-casing
//                         and stripping simple plurals
import { loadNounSynsets, sample, type Synset } from '../test/helpers/wordnet.js';

export interface RetrievalSet {
  name: string;
  docs: string[];
  queries: { text: string; answer: number; kind?: string }[];
}

/** mulberry32: small, seeded, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
function shuffle<T>(r: () => number, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

let cachedSynsets: Synset[] | undefined;
const synsets = (): Synset[] => (cachedSynsets ??= loadNounSynsets());

// ---------------------------------------------------------------- (a) WordNet synonyms -> gloss
export function wordnetSet(count = 2000): RetrievalSet {
  const s = sample(synsets(), count);
  return {
    name: 'wordnet',
    docs: s.map((x) => x.gloss),
    queries: s.map((x, i) => ({ text: x.lemmas.join(', '), answer: i })),
  };
}

// ---------------------------------------------------------------- (c) no shared word
const WORDS = /[\p{L}\p{N}]+/gu;
/** A word and its simple-plural strippings: "berries" -> berries, berrie, berri, berry. */
export function wordForms(w: string): string[] {
  const out = [w];
  if (w.length > 3 && w.endsWith('s')) out.push(w.slice(0, -1));
  if (w.length > 4 && w.endsWith('es')) out.push(w.slice(0, -2));
  if (w.length > 4 && w.endsWith('ies')) out.push(w.slice(0, -3) + 'y');
  return out;
}
export function sharesWord(a: string, b: string): boolean {
  const forms = new Set((a.toLowerCase().match(WORDS) ?? []).flatMap(wordForms));
  return (b.toLowerCase().match(WORDS) ?? []).some((w) => wordForms(w).some((f) => forms.has(f)));
}
export interface NoSharedInfo {
  total: number;
  survivors: number;
}
export function noSharedWordSet(count = 2000, info?: NoSharedInfo): RetrievalSet {
  const all = synsets();
  const ok = all.filter((s) => !sharesWord(s.lemmas.join(' '), s.gloss));
  if (info) {
    info.total = all.length;
    info.survivors = ok.length;
  }
  // Offset the sample by half a step so that it overlaps set (a) as little as possible.
  const step = Math.max(1, Math.floor(ok.length / count));
  const s = Array.from(
    { length: Math.min(count, Math.floor(ok.length / step)) },
    (_, i) => ok[i * step + (step >> 1)]!,
  );
  return {
    name: 'no-shared-word',
    docs: s.map((x) => x.gloss),
    queries: s.map((x, i) => ({ text: x.lemmas.join(', '), answer: i })),
  };
}

// ---------------------------------------------------------------- (b) identifiers
const PROJECTS = ['JIRA', 'OPS', 'INFRA', 'SEC', 'PAY', 'DATA', 'WEB', 'MOB', 'QA', 'SRE', 'CORE', 'API'];
const HOSTS = [
  'hopper',
  'turing',
  'lovelace',
  'knuth',
  'dijkstra',
  'ritchie',
  'babbage',
  'noether',
  'hamilton',
  'liskov',
  'lamport',
  'backus',
  'kay',
  'perlman',
  'cerf',
  'shannon',
  'wirth',
  'hoare',
  'milner',
  'church',
  'db',
  'web',
  'cache',
  'queue',
  'edge',
  'build',
  'vault',
  'kafka',
  'etcd',
  'ldap',
];
const SUBS = ['corp', 'prod', 'staging', 'eu-west-1', 'us-east-2', 'internal', 'lab', 'dmz'];
const DOMAINS = ['example.com', 'example.net', 'example.org'];
// Real, rare surnames (several with diacritics): pairs are near-miss spellings of each other.
const SURNAMES: [string, string][] = [
  ['Przybylski', 'Przybylska'],
  ['Szczepaniak', 'Szczepanik'],
  ['Wojciechowski', 'Wojciechowska'],
  ['Featherstonehaugh', 'Featherstone'],
  ['Vandersloot', 'Vanderslott'],
  ['Oyelowo', 'Oyelaran'],
  ['Nakashima', 'Nakajima'],
  ['Okonkwo', 'Okonjo'],
  ['Ødegård', 'Ødegaard'],
  ['Dvořák', 'Dvorak'],
  ['Šimůnek', 'Šimůnková'],
  ['Nguyễn', 'Nguyen'],
  ['Çelikkaya', 'Çelikkol'],
  ['Grünwaldt', 'Grünwald'],
  ['Hoxhaj', 'Hoxha'],
  ['Tshabalala', 'Tshabala'],
  ['Ekwueme', 'Ekwunife'],
  ['Abernathy', 'Abernethy'],
  ['Quackenbush', 'Quackenboss'],
  ['Zwicklbauer', 'Zwickl'],
  ['Kowalczyk', 'Kowalczuk'],
  ['Løvås', 'Løvaas'],
  ['Szőke', 'Szőcs'],
  ['Yamaguchi-Berg', 'Yamaguchi'],
  ['Mbeki-Nkosi', 'Mbeki'],
  ['Ahlgren', 'Ahlgrim'],
  ['Brzęczyszczykiewicz', 'Brzęczek'],
  ['Iwuchukwu', 'Iwuagwu'],
  ['Pfannenstiel', 'Pfannenschmidt'],
  ['Thorvaldsdóttir', 'Thorvaldsson'],
  ['Kuznetsova', 'Kuznetsov'],
  ['Vasquez-Olmedo', 'Vasquez'],
  ['Ravichandran', 'Ravishankar'],
  ['Oyarzábal', 'Oyarzun'],
  ['Haverkamp', 'Haverkort'],
  ['Lindqvist', 'Lindkvist'],
  ['Mägi-Tamm', 'Mägi'],
  ['Žemaitis', 'Žemaitė'],
  ['Fitzwilliam', 'Fitzwalter'],
  ['Tiedemann', 'Tiedeman'],
  ['Blaszczykowski', 'Błaszczyk'],
  ['Wrzesniewski', 'Wrzesniewska'],
  ['Oduya', 'Oduro'],
  ['Kalniņš', 'Kalniņa'],
  ['Papadopoulou', 'Papadopoulos'],
  ['Eichelberger', 'Eichelbaum'],
  ['Huxtable', 'Hurstable'],
  ['Ouellette', 'Ouellet'],
];
const VERSION_PRODUCTS = [
  'the agent',
  'the SDK',
  'the CLI',
  'the installer',
  'the ingest service',
  'the mobile app',
  'the billing worker',
  'the search plugin',
  'the gateway',
  'the scheduler',
];
const SNAKE_A = ['max', 'min', 'default', 'initial'];
const SNAKE_B = ['retry', 'batch', 'pool', 'queue', 'upload', 'session'];
const SNAKE_C = ['size', 'count', 'timeout_ms', 'limit'];
const ARCH = [
  'x86_64',
  'aarch64',
  'arm64-v8a',
  'i686',
  'ppc64le',
  's390x',
  'armv7l',
  'riscv64',
  'x86_64-unknown-linux-gnu',
  'aarch64-apple-darwin',
  'win32-x64',
  'linux-arm64-musl',
  'mips64el',
  'wasm32-wasi',
];
const PEOPLE = ['Alice', 'Bob', 'Carmen', 'Dmitri', 'Erin', 'Farid', 'Grace', 'Hugo', 'Ines', 'Jonas'];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'last week', 'yesterday', 'this morning'];
const THINGS = [
  'login page',
  'payment flow',
  'nightly export',
  'search results',
  'invoice emails',
  'cache warmup',
  'user settings',
  'audit log',
  'image uploads',
  'report builder',
  'password reset',
  'webhook retries',
];

const T_TICKET = [
  '{person} opened {id} because the {thing} times out after the {day} release.',
  'The fix for {id} changes how the {thing} handles empty input.',
  '{id}: {thing} shows stale data for some customers, reported {day}.',
  'We closed {id} as a duplicate; the {thing} bug is tracked elsewhere.',
  'Remember that {id} blocks the rollout of the new {thing} (owner: {person}).',
  '{person} says {id} only reproduces on Safari when the {thing} is open in two tabs.',
  'Priority of {id} was raised {day} after the {thing} outage.',
];
const T_HOST = [
  'The {thing} job runs on {id} every night at two.',
  '{person} rebooted {id} {day} after the disk filled up.',
  'Do not deploy to {id}; it still serves the old {thing}.',
  'Metrics for the {thing} are scraped from {id}, port 9100.',
  'SSH access to {id} goes through the bastion, ask {person}.',
  'The certificate on {id} expires soon, renew it before the {thing} demo.',
];
const T_PERSON = [
  'Dr. {id} is the contact for the {thing} contract.',
  '{id} from the vendor promised a patch for the {thing} by {day}.',
  'Invoices for the {thing} go to {id} in accounting.',
  'My landlord, {id}, wants the rent transferred before the first of the month.',
  '{person} and {id} pair on the {thing} rewrite.',
  'The dentist recommended by {id} is on Baker Street.',
];
const T_VERSION = [
  'Upgrade {product} to {id}; older builds leak memory in the {thing}.',
  '{product} {id} broke the {thing}, so we pinned the previous release.',
  'Release notes for {id} of {product} mention a faster {thing}.',
  '{person} tested {product} {id} on {day} and found no regressions.',
  'Do not ship {product} {id} until the {thing} migration is done.',
];
const T_SNAKE = [
  'Set {id} to a higher value when the {thing} is slow.',
  'The config key {id} controls the {thing} in production.',
  '{person} lowered {id} {day} because the {thing} overloaded the database.',
  'Builds for {id} are published with every {thing} release.',
  'The {thing} binary for {id} crashes at startup, says {person}.',
];
const QUERY_WORDS = ['what about', 'status of', 'who owns', 'notes on', 'issue with', 'details for', 'any news on'];
const STOP = new Set([
  'the',
  'a',
  'an',
  'on',
  'of',
  'to',
  'for',
  'in',
  'is',
  'and',
  'at',
  'by',
  'it',
  'so',
  'we',
  'as',
  'from',
  'with',
  'when',
  'after',
  'before',
  'that',
  'some',
  'only',
  'two',
  'every',
  'does',
  'not',
  'do',
  'are',
  'says',
  'until',
  'still',
  'soon',
]);

function fill(r: () => number, template: string, id: string, extra: Record<string, string> = {}): string {
  return template
    .replace('{id}', id)
    .replace('{person}', pick(r, PEOPLE))
    .replace('{thing}', pick(r, THINGS))
    .replace('{day}', pick(r, DAYS))
    .replace('{product}', extra.product ?? pick(r, VERSION_PRODUCTS));
}

interface IdItem {
  id: string;
  kind: string;
  text: string;
  /** other strings that also identify it (e.g. the short hostname) */
  alias?: string;
}

export function identifierItems(seed = 15): IdItem[] {
  const r = prng(seed);
  const items: IdItem[] = [];
  const used = new Set<string>();
  const add = (kind: string, id: string, templates: string[], alias?: string, extra?: Record<string, string>) => {
    if (used.has(id.toLowerCase())) return;
    used.add(id.toLowerCase());
    items.push({ id, kind, text: fill(r, pick(r, templates), id, extra), ...(alias ? { alias } : {}) });
  };
  // Tickets: 55 families of 3: JIRA-4512, JIRA-4513 (n+1), JIRA-4152 (two digits swapped).
  for (let f = 0; f < 55; f++) {
    const p = pick(r, PROJECTS);
    const n = 100 + Math.floor(r() * 9800);
    const s = String(n);
    const swapped = s.length > 2 ? s[0]! + s[2]! + s[1]! + s.slice(3) : s + '1';
    for (const id of [`${p}-${s}`, `${p}-${n + 1}`, `${p}-${swapped}`]) add('ticket', id, T_TICKET);
  }
  // Hostnames: 40 families: hopper-7.corp.example.com, hopper-8.corp..., hopper-71.corp...
  for (let f = 0; f < 40; f++) {
    const h = HOSTS[f % HOSTS.length]!;
    const n = 1 + Math.floor(r() * 9) + 10 * Math.floor(f / HOSTS.length);
    const sub = pick(r, SUBS);
    const dom = pick(r, DOMAINS);
    for (const m of [n, n + 1, n * 10 + 1]) add('hostname', `${h}-${m}.${sub}.${dom}`, T_HOST, `${h}-${m}`);
  }
  for (const pair of SURNAMES) for (const s of pair) add('surname', s, T_PERSON);
  // Versions: 40 families: v2.14.3, v2.14.4, v2.41.3 / 1.7.3-rc1, 1.7.3-rc2, 1.7.4-rc1
  for (let f = 0; f < 40; f++) {
    const a = Math.floor(r() * 5);
    const b = 1 + Math.floor(r() * 30);
    const c = Math.floor(r() * 10);
    const product = VERSION_PRODUCTS[f % VERSION_PRODUCTS.length]!;
    const fam =
      f % 2 === 0
        ? [
            `v${a}.${b}.${c}`,
            `v${a}.${b}.${c + 1}`,
            `v${a}.${String(b).split('').reverse().join('')}${b < 10 ? '0' : ''}.${c}`,
          ]
        : [`${a}.${b}.${c}-rc1`, `${a}.${b}.${c}-rc2`, `${a}.${b}.${c + 1}-rc1`];
    for (const id of fam) add('version', id, T_VERSION, undefined, { product });
  }
  for (const a of SNAKE_A)
    for (const b of SNAKE_B)
      for (const c of SNAKE_C) if (r() < 0.45) add('snake', `${a}_${b}_${c}`, T_SNAKE.slice(0, 3));
  for (const id of ARCH) add('arch', id, T_SNAKE.slice(3));
  return items;
}

export function identifierSet(seed = 15, distractors = 3000): RetrievalSet {
  const r = prng(seed * 7919);
  const items = identifierItems(seed);
  const all = synsets();
  // Distractors: WordNet glosses from a different stride than sets (a) and (c).
  const step = Math.floor(all.length / distractors);
  const gl = Array.from({ length: distractors }, (_, i) => all[i * step + Math.floor(step / 3)]!.gloss);
  const docs: string[] = [];
  const order = shuffle(r, [...items.map((_, i) => i), ...gl.map((_, i) => -1 - i)]);
  const position = new Map<number, number>();
  for (const o of order) {
    position.set(o, docs.length);
    docs.push(o >= 0 ? items[o]!.text : gl[-1 - o]!);
  }
  const queries = items.map((it, i) => {
    const u = r();
    let id = it.id;
    let kind = `${it.kind}:full`;
    if (it.alias && r() < 0.4) {
      id = it.alias; // "hopper-7" must find hopper-7.corp.example.com (and not hopper-71)
      kind = `${it.kind}:short`;
    }
    let text = id;
    if (u >= 0.5 && u < 0.75) {
      const content = (it.text.replace(it.id, ' ').match(/[A-Za-z]+/g) ?? []).filter(
        (w) => !STOP.has(w.toLowerCase()) && w.length > 2,
      );
      const two = shuffle(r, [...new Set(content)]).slice(0, 2);
      text = `${id} ${two.join(' ')}`;
      kind += '+words';
    } else if (u >= 0.75) {
      text = `${pick(r, QUERY_WORDS)} ${id}`;
      kind += '+question';
    }
    return { text, answer: position.get(i)!, kind };
  });
  return { name: 'identifiers', docs, queries };
}

export function allSets(): { sets: RetrievalSet[]; noShared: NoSharedInfo } {
  const info: NoSharedInfo = { total: 0, survivors: 0 };
  return { sets: [wordnetSet(), identifierSet(), noSharedWordSet(2000, info)], noShared: info };
}
