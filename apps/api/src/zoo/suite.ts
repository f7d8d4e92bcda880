// The zoo's synthetic mixed-task suite: 8 clusters of 3 tasks. The tasks of a cluster share
// one skill (upper-casing, taking the last item of a list, pluralising, ...) over different
// domains and wordings, as the paper's clusters group datasets of one kind; answers are
// scored by exact match. Everything is drawn from one seed, so the suite is reproducible.
//
// Held-out items: each task names a key per item (the word and its wording, the list, the
// fact and its wording); validation and test items use keys that no training item of that
// task uses, so every scored input is new to the adapter that answers it.
import { Rng as SeededRng } from "../retriever/head/rng.js";
import type { ZooItem } from "./manifest.js";

// ---------------------------------------------------------------- seeded randomness

export type Rng = () => number; // uniform in [0, 1)

/** The project's seeded source (mulberry32, retriever/head/rng.ts) as a function. */
export function mulberry32(seed: number): Rng {
  const g = new SeededRng(seed);
  return () => g.next();
}

export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

export function shuffle<T>(r: Rng, xs: readonly T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

// ---------------------------------------------------------------- vocabularies

export const ANIMALS = [
  "cat", "dog", "owl", "fox", "bear", "wolf", "lion", "tiger", "zebra", "horse", "goat", "camel", "eagle", "shark",
  "whale", "snake", "frog", "rabbit", "otter", "panda", "koala", "llama", "hyena", "lemur", "gecko", "raven", "crow",
  "swan", "duck", "heron", "crab", "seal", "walrus", "badger", "ferret", "beaver", "skunk", "monkey", "donkey", "turkey",
  "parrot", "pigeon", "lizard", "spider", "beetle", "moth", "wasp", "toad",
];
export const COLORS = [
  "red", "blue", "green", "yellow", "orange", "purple", "pink", "brown", "black", "white", "gray", "teal", "navy",
  "maroon", "coral", "ivory", "amber", "violet", "indigo", "beige", "tan", "cyan", "lime", "gold", "silver", "rust",
  "jade", "ruby", "cream", "khaki", "lilac", "mauve",
];
export const FOODS = [
  "apple", "banana", "cherry", "grape", "lemon", "mango", "melon", "peach", "pear", "bread", "cheese", "butter", "pasta",
  "rice", "soup", "salad", "pizza", "taco", "bagel", "muffin", "cookie", "donut", "waffle", "pancake", "noodle",
  "onion", "carrot", "potato", "tomato", "pepper", "radish", "bean", "lentil", "cake", "pie", "sandwich", "peanut",
  "walnut", "berry", "kiwi",
];
export const OBJECTS = [
  "chair", "table", "lamp", "clock", "phone", "book", "pencil", "bottle", "cup", "plate", "spoon", "fork", "knife",
  "bag", "box", "brush", "key", "lock", "door", "window", "mirror", "pillow", "blanket", "candle", "basket", "bucket",
  "ladder", "hammer", "wrench", "shovel", "kettle", "wallet", "ticket", "button", "jacket", "glove", "boot", "scarf",
  "helmet", "dish",
];
const NAMES = ["Ann", "Bob", "Tom", "Sue", "Max", "Eva", "Leo", "Mia", "Sam", "Zoe", "Ian", "Kim", "Ada", "Ben"];
const THINGS = ["apples", "coins", "books", "shells", "cards", "stamps", "marbles", "pens"];
const GOOD = ["delicious", "lovely", "great", "superb", "wonderful", "excellent", "pleasant", "fantastic"];
const BAD = ["awful", "terrible", "dreadful", "horrible", "poor", "disgusting", "boring", "nasty"];
const MOVIES = ["film", "movie", "story", "plot", "ending", "soundtrack", "script", "sequel"];
const HOTEL = ["room", "bed", "staff", "lobby", "pool", "breakfast", "view", "service"];

// A made-up world: 24 countries and their capitals (no real place names).
export const CAPITALS: Record<string, string> = {
  Zorvia: "Quell", Plenth: "Arbo", Mirrask: "Tovin", Quendor: "Sallow", Brevik: "Ondra", Talmere: "Vesk",
  Korrin: "Ulbane", Yssa: "Drem", Fendral: "Moskel", Ombria: "Caddis", Veltran: "Hollin", Druzia: "Penn",
  Castova: "Ilmar", Nerith: "Jovat", Lurania: "Brisk", Sethmar: "Gando", Averon: "Pell", Qirra: "Mundle",
  Hastel: "Orvo", Delvane: "Tirra", Ulmora: "Fesk", Garrow: "Nim", Tessaly: "Rook", Bryndal: "Ezza",
};

export function plural(w: string): string {
  if (/(s|x|z|ch|sh)$/.test(w)) return w + "es";
  if (/[^aeiou]y$/.test(w)) return w.slice(0, -1) + "ies";
  return w + "s";
}

// ---------------------------------------------------------------- tasks

export interface TaskSpec {
  name: string;
  cluster: string;
  description: string;
  /** One item: the input, the answer, and the key that keeps held-out items apart. */
  make(r: Rng): ZooItem & { key: string };
}

export interface ClusterSpec {
  name: string;
  description: string;
}

function wordTask(
  name: string, cluster: string, description: string, words: readonly string[], wordings: readonly string[], answer: (w: string) => string,
): TaskSpec {
  return {
    name, cluster, description,
    make: (r) => {
      const w = pick(r, words);
      const k = Math.floor(r() * wordings.length);
      return { input: wordings[k]!.replace("{w}", w), answer: answer(w), key: `${w}/${k}` };
    },
  };
}

function listTask(
  name: string, cluster: string, description: string, words: readonly string[], wordings: readonly string[], sep: string, answer: (xs: string[]) => string,
): TaskSpec {
  return {
    name, cluster, description,
    make: (r) => {
      const xs = shuffle(r, words).slice(0, int(r, 3, 4));
      return { input: pick(r, wordings).replace("{list}", xs.join(sep)), answer: answer(xs), key: xs.join(" ") };
    },
  };
}

const NUMBERS = Array.from({ length: 100 }, (_, i) => String(i));
const noIrregular = (ws: readonly string[]) => ws.filter((w) => !["fish", "sheep", "deer", "moose", "mouse", "goose", "knife"].includes(w));

export const CLUSTERS: ClusterSpec[] = [
  { name: "capitalize", description: "write a word in capital letters" },
  { name: "first-letter", description: "the first letter of a word" },
  { name: "last-item", description: "the last item of a list" },
  { name: "plural", description: "the plural of a noun" },
  { name: "join", description: "join a list with dashes" },
  { name: "sentiment", description: "is a short review positive or negative" },
  { name: "addition", description: "add two small numbers" },
  { name: "capitals", description: "capitals of made-up countries" },
];

export const TASKS: TaskSpec[] = [
  wordTask("upper-animal", "capitalize", "an animal's name in capital letters", ANIMALS,
    ["Write the animal name in capital letters: {w}", "Uppercase this animal: {w}", "Shout the name of the animal {w}", "Animal in upper case: {w}"], (w) => w.toUpperCase()),
  wordTask("upper-color", "capitalize", "a colour in capital letters", COLORS,
    ["Write the color in capital letters: {w}", "Uppercase this color: {w}", "Shout the color {w}", "Color in upper case: {w}"], (w) => w.toUpperCase()),
  wordTask("upper-food", "capitalize", "a food in capital letters", FOODS,
    ["Write the food in capital letters: {w}", "Uppercase this food: {w}", "Shout the name of the food {w}", "Food in upper case: {w}"], (w) => w.toUpperCase()),

  wordTask("first-animal", "first-letter", "the first letter of an animal's name", ANIMALS,
    ["What letter does the animal {w} start with?", "First letter of the animal name {w}:", "Give the initial of the animal {w}", "The animal {w} begins with which letter?"], (w) => w[0]!),
  wordTask("first-object", "first-letter", "the first letter of an object's name", OBJECTS,
    ["What letter does the object {w} start with?", "First letter of the thing called {w}:", "Give the initial of the object {w}", "The word {w} (an object) begins with which letter?"], (w) => w[0]!),
  wordTask("first-food", "first-letter", "the first letter of a food", FOODS,
    ["What letter does the food {w} start with?", "First letter of the food {w}:", "Give the initial of the dish {w}", "The food {w} begins with which letter?"], (w) => w[0]!),

  listTask("last-animal", "last-item", "the last animal of a list", ANIMALS,
    ["Which animal comes last: {list}?", "Name the last animal in this list: {list}", "Last of these animals: {list}", "The final animal in {list} is?"], ", ", (xs) => xs[xs.length - 1]!),
  listTask("last-color", "last-item", "the last colour of a list", COLORS,
    ["Which color comes last: {list}?", "Name the last color in this list: {list}", "Last of these colors: {list}", "The final color in {list} is?"], ", ", (xs) => xs[xs.length - 1]!),
  listTask("last-object", "last-item", "the last object of a list", OBJECTS,
    ["Which object comes last: {list}?", "Name the last item in this list of things: {list}", "Last of these objects: {list}", "The final thing in {list} is?"], ", ", (xs) => xs[xs.length - 1]!),

  wordTask("plural-animal", "plural", "the plural of an animal's name", noIrregular(ANIMALS),
    ["What is the plural of the animal {w}?", "Plural form of {w} (an animal):", "One {w}, two what?", "Make the animal {w} plural"], plural),
  wordTask("plural-object", "plural", "the plural of an object's name", noIrregular(OBJECTS),
    ["What is the plural of the object {w}?", "Plural form of {w} (a thing):", "One {w}, three what?", "Make the word {w} plural"], plural),
  wordTask("plural-food", "plural", "the plural of a food", noIrregular(FOODS),
    ["What is the plural of the food {w}?", "Plural form of {w} (a food):", "One {w}, many what?", "Make the food {w} plural"], plural),

  listTask("join-animals", "join", "animals joined with dashes", ANIMALS,
    ["Join these animals with dashes: {list}", "Connect the animals using hyphens: {list}", "Dash-separated animals: {list}", "Link with dashes the animals {list}"], " ", (xs) => xs.join("-")),
  listTask("join-colors", "join", "colours joined with dashes", COLORS,
    ["Join these colors with dashes: {list}", "Connect the colors using hyphens: {list}", "Dash-separated colors: {list}", "Link with dashes the colors {list}"], " ", (xs) => xs.join("-")),
  listTask("join-numbers", "join", "numbers joined with dashes", NUMBERS,
    ["Join these numbers with dashes: {list}", "Connect the numbers using hyphens: {list}", "Dash-separated numbers: {list}", "Link with dashes the numbers {list}"], " ", (xs) => xs.join("-")),

  ...([
    ["sentiment-food", "a restaurant review", FOODS, ["Review: the {x} was {a}. Positive or negative?", "Is this food review positive or negative? The {x} tasted {a}.", "Sentiment of the review: our {x} was {a}", "Meal review: a {a} {x}. Positive or negative?"]],
    ["sentiment-movie", "a film review", MOVIES, ["Review: the {x} was {a}. Positive or negative?", "Is this movie review positive or negative? The {x} felt {a}.", "Sentiment of the review: the {x} is {a}", "Film review: a {a} {x}. Positive or negative?"]],
    ["sentiment-hotel", "a hotel review", HOTEL, ["Review: the hotel {x} was {a}. Positive or negative?", "Is this hotel review positive or negative? The {x} was {a}.", "Sentiment of the review: our hotel {x} was {a}", "Hotel review: a {a} {x}. Positive or negative?"]],
  ] as const).map(([name, what, nouns, wordings]): TaskSpec => ({
    name, cluster: "sentiment", description: `whether ${what} is positive or negative`,
    make: (r) => {
      const good = r() < 0.5;
      const a = pick(r, good ? GOOD : BAD);
      const x = pick(r, nouns);
      return { input: pick(r, wordings).replace("{x}", x).replace("{a}", a), answer: good ? "positive" : "negative", key: `${x} ${a}` };
    },
  })),

  ...([
    ["add-plain", "the sum of two numbers, asked plainly", ["What is {a} plus {b}?", "{a} + {b} =", "Compute {a} plus {b}.", "Add {a} to {b}."]],
    ["add-story", "the sum of two numbers in a short story", ["{n} has {a} {t} and finds {b} more. How many {t} now?", "{n} had {a} {t}, then got {b} more. Total {t}?", "There are {a} {t} and {n} adds {b}. How many {t}?", "{n} keeps {a} {t} and buys {b} more. Count the {t}."]],
    ["add-sum", "the total of two numbers", ["Total of {a} and {b}:", "Find the sum of {a} and {b}.", "Sum {a} and {b}.", "What do {a} and {b} add up to?"]],
  ] as const).map(([name, description, wordings]): TaskSpec => ({
    name, cluster: "addition", description,
    make: (r) => {
      const a = int(r, 0, 9), b = int(r, 0, 9);
      const w = int(r, 0, wordings.length - 1);
      const input = wordings[w]!.replaceAll("{a}", String(a)).replaceAll("{b}", String(b)).replaceAll("{n}", pick(r, NAMES)).replaceAll("{t}", pick(r, THINGS));
      return { input, answer: String(a + b), key: `${a}+${b}/${w}` };
    },
  })),

  ...([
    ["capital-question", "the capital of a made-up country, asked directly", ["What is the capital of {c}?", "Name the capital city of {c}.", "Capital of {c}?", "Which city is the capital of {c}?"]],
    ["capital-travel", "the capital of a made-up country, in a travel question", ["I am flying to the capital of {c}. Which city is it?", "Our trip ends in the capital of {c}. Where do we land?", "A train goes to the capital of {c}. Its destination?", "We visit the capital of {c} next week. Which city?"]],
    ["capital-fill", "the capital of a made-up country, as a sentence to complete", ["Complete: the capital of {c} is", "Fill in the blank: ___ is the capital of {c}.", "The seat of government of {c} is the city of", "Finish the sentence: {c} has its capital in"]],
  ] as const).map(([name, description, wordings]): TaskSpec => ({
    name, cluster: "capitals", description,
    make: (r) => {
      const c = pick(r, Object.keys(CAPITALS));
      const w = int(r, 0, wordings.length - 1);
      return { input: wordings[w]!.replace("{c}", c), answer: CAPITALS[c]!, key: `${c}/${w}` };
    },
  })),
];

/** The base model's training text. Half of it is copying under English wordings (reading an
 * instruction, copying, stopping). The other half drills the suite's primitive operations
 * (upper-casing, first letters, last items, plurals, dashes, review polarity, sums, the
 * made-up capitals) behind opaque codes such as "#3 zebra": the base learns the skills, as
 * a pretrained model would, but none of the suite's English instructions, so it scores near
 * zero on the suite alone. An adapter then only has to connect its task's wording to a skill
 * the base has, a small change to the base, which is what lets adapters mix. */
export function pretrainItem(r: Rng): ZooItem {
  const words = [...ANIMALS, ...COLORS, ...FOODS, ...OBJECTS];
  if (r() < 0.5) {
    const pool = [ANIMALS, COLORS, FOODS, OBJECTS, NUMBERS, NAMES, Object.keys(CAPITALS), GOOD, BAD];
    const xs = Array.from({ length: int(r, 1, 4) }, () => pick(r, pick(r, pool)));
    const text = xs.join(pick(r, [" ", ", ", " and "]));
    const wording = pick(r, ["Repeat: {x}", "Say again: {x}", "Copy this text: {x}", "Echo {x}", "Please repeat the words {x}", "Write exactly: {x}", "Say it back: {x}"]);
    return { input: wording.replace("{x}", text), answer: text };
  }
  const op = int(r, 1, 8);
  const list = () => shuffle(r, pick(r, [ANIMALS, COLORS, OBJECTS, FOODS, NUMBERS])).slice(0, int(r, 3, 4));
  let payload: string;
  let answer: string;
  switch (op) {
    case 1: { const w = pick(r, words); payload = w; answer = w.toUpperCase(); break; }
    case 2: { const w = pick(r, words); payload = w; answer = w[0]!; break; }
    case 3: { const xs = list(); payload = xs.join(", "); answer = xs[xs.length - 1]!; break; }
    case 4: { const w = pick(r, noIrregular(words)); payload = w; answer = plural(w); break; }
    case 5: { const xs = list(); payload = xs.join(" "); answer = xs.join("-"); break; }
    case 6: {
      const good = r() < 0.5;
      payload = `the ${pick(r, [...FOODS, ...MOVIES, ...HOTEL])} was ${pick(r, good ? GOOD : BAD)}`;
      answer = good ? "positive" : "negative";
      break;
    }
    case 7: { const a = int(r, 0, 9), b = int(r, 0, 9); payload = `${a} ${b}`; answer = String(a + b); break; }
    default: { const c = pick(r, Object.keys(CAPITALS)); payload = c; answer = CAPITALS[c]!; break; }
  }
  return { input: `#${op} ${payload}`, answer };
}

export interface SuiteSplit {
  train: ZooItem[];
  validation: ZooItem[];
  test: ZooItem[];
  samples: string[];
}

/** Draws a task's held-out items first (distinct keys), then training items whose keys they
 * do not use. `heldOut` items go half to validation, half to test. */
export function drawTask(task: TaskSpec, seed: number, sizes: { train: number; validation: number; test: number; samples: number }): SuiteSplit {
  const r = mulberry32(seed);
  const held = new Map<string, ZooItem>();
  const inputs = new Set<string>();
  const want = sizes.validation + sizes.test;
  for (let tries = 0; held.size < want && tries < want * 200; tries++) {
    const it = task.make(r);
    if (!held.has(it.key) && !inputs.has(it.input)) {
      held.set(it.key, { input: it.input, answer: it.answer });
      inputs.add(it.input);
    }
  }
  if (held.size < want) throw new Error(`task ${task.name}: only ${held.size} distinct held-out items`);
  const heldItems = [...held.values()];
  const train: ZooItem[] = [];
  for (let tries = 0; train.length < sizes.train && tries < sizes.train * 50; tries++) {
    const it = task.make(r);
    if (!held.has(it.key)) train.push({ input: it.input, answer: it.answer });
  }
  if (train.length < sizes.train) throw new Error(`task ${task.name}: only ${train.length} training items`);
  const samples = [...new Set(train.map((t) => t.input))].slice(0, sizes.samples);
  return { train, validation: heldItems.slice(0, sizes.validation), test: heldItems.slice(sizes.validation), samples };
}
