import { choose, normal, seededRandom } from './random.js';

/**
 * A synthetic used-car listing data set for the regression demo and tests: year, odometer,
 * make and model, condition, fuel, transmission, body type and paint colour, with the dirt of
 * real listing dumps — missing cells in several spellings, odometers in km or typed as "120k",
 * impossible odometer readings, inconsistent capitalisation and stray spaces, and prices that
 * are missing, NaN or Infinity (rows a trainer must leave out and count). The price comes from a known formula (a base price per
 * model, depreciation with age and mileage, condition, fuel and body effects) plus noise, so a
 * fitted model can be judged against what is learnable.
 */
export const CAR_COLUMNS = ['listing_id', 'year', 'odometer', 'make', 'model', 'condition', 'fuel', 'transmission', 'body_type', 'paint_color', 'price'] as const;

const MODELS: readonly (readonly [string, string, number, string])[] = [
  // make, model, price new (USD), usual body type
  ['toyota', 'corolla', 24000, 'sedan'],
  ['toyota', 'camry', 30000, 'sedan'],
  ['toyota', 'rav4', 33000, 'SUV'],
  ['toyota', 'tacoma', 38000, 'pickup'],
  ['honda', 'civic', 25000, 'sedan'],
  ['honda', 'accord', 31000, 'sedan'],
  ['honda', 'cr-v', 33000, 'SUV'],
  ['ford', 'f-150', 45000, 'pickup'],
  ['ford', 'escape', 30000, 'SUV'],
  ['ford', 'mustang', 38000, 'coupe'],
  ['chevrolet', 'silverado', 46000, 'pickup'],
  ['chevrolet', 'malibu', 27000, 'sedan'],
  ['chevrolet', 'equinox', 30000, 'SUV'],
  ['nissan', 'altima', 28000, 'sedan'],
  ['nissan', 'rogue', 31000, 'SUV'],
  ['bmw', '3 series', 46000, 'sedan'],
  ['bmw', 'x5', 66000, 'SUV'],
  ['mercedes-benz', 'c-class', 48000, 'sedan'],
  ['tesla', 'model 3', 42000, 'sedan'],
  ['jeep', 'wrangler', 40000, 'SUV'],
  ['subaru', 'outback', 32000, 'wagon'],
  ['volkswagen', 'golf', 26000, 'hatchback'],
  ['ram', '1500', 47000, 'pickup'],
  ['kia', 'sedona', 33000, 'van'],
];
const CONDITIONS = [
  ['new', 0.04, 1.1],
  ['like new', 0.12, 1.0],
  ['excellent', 0.3, 0.93],
  ['good', 0.38, 0.85],
  ['fair', 0.13, 0.68],
  ['salvage', 0.03, 0.4],
] as const;
const COLORS = [
  ['white', 0.22],
  ['black', 0.2],
  ['silver', 0.15],
  ['grey', 0.13],
  ['blue', 0.1],
  ['red', 0.09],
  ['green', 0.02],
  ['brown', 0.02],
  ['custom', 0.02],
  ['', 0.05],
] as const;

/** Messy spelling of a category, as free-text listing forms give it. */
function dirty(rand: () => number, v: string): string {
  const r = rand();
  if (r < 0.04) return v.toUpperCase();
  if (r < 0.08) return `${v.charAt(0).toUpperCase()}${v.slice(1)}`;
  if (r < 0.1) return ` ${v} `;
  return v;
}

/** `rows` listings as CSV text (header first), and the noise-free price of each row. */
export function generateCarListings(rows: number, seed = 7): { csv: string; truePrice: number[] } {
  const rand = seededRandom(seed);
  const lines: string[] = [CAR_COLUMNS.join(',')];
  const truePrice: number[] = [];
  const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  for (let i = 0; i < rows; i++) {
    const [make, model, newPrice, usualBody] = MODELS[Math.floor(rand() * MODELS.length)];
    const year = 2024 - Math.min(24, Math.floor(Math.abs(normal(rand)) * 6));
    const age = 2025 - year;
    const miles = Math.max(0, Math.round(age * (9000 + 5000 * normal(rand)) + rand() * 3000));
    const condition = choose(
      rand,
      CONDITIONS.map(([c, w]) => [c, w] as const),
    );
    const conditionFactor = CONDITIONS.find(([c]) => c === condition)![2];
    const electric = make === 'tesla';
    const fuel = electric
      ? 'electric'
      : choose(rand, [
          ['gas', 0.86],
          ['diesel', usualBody === 'pickup' ? 0.12 : 0.02],
          ['hybrid', 0.06],
          ['other', 0.01],
        ] as const);
    const transmission = choose(rand, [
      ['automatic', 0.88],
      ['manual', 0.09],
      ['other', 0.03],
    ] as const);
    const body =
      rand() < 0.9
        ? usualBody
        : choose(rand, [
            ['sedan', 1],
            ['SUV', 1],
            ['hatchback', 1],
            ['coupe', 1],
          ] as const);
    const color = choose(rand, COLORS);
    const price = newPrice * Math.pow(0.86, age) * Math.exp(-miles / 250_000) * conditionFactor * (fuel === 'diesel' ? 1.12 : fuel === 'hybrid' ? 1.06 : 1) * (transmission === 'manual' ? 0.95 : 1);
    truePrice.push(price);
    let listed: string = String(Math.round((price * Math.exp(0.08 * normal(rand))) / 10) * 10);
    const junk = rand();
    if (junk < 0.01)
      listed = ''; // "call for price"
    else if (junk < 0.012)
      listed = 'Infinity'; // a spreadsheet's division by zero
    else if (junk < 0.014) listed = 'NaN';
    // Odometer: mostly miles; some in "k", some in km, some missing or impossible.
    let odo: string = String(miles);
    const o = rand();
    if (o < 0.04) odo = '';
    else if (o < 0.06) odo = `${Math.round(miles / 1000)}k`;
    else if (o < 0.07) odo = '9999999';
    else if (o < 0.08) odo = 'NA';
    lines.push(
      [
        `L${100000 + i}`,
        rand() < 0.01 ? '' : String(year),
        odo,
        dirty(rand, make),
        dirty(rand, model),
        rand() < 0.06 ? '' : dirty(rand, condition),
        rand() < 0.03 ? '' : fuel,
        rand() < 0.05 ? '' : transmission,
        rand() < 0.05 ? '' : dirty(rand, body),
        color,
        listed,
      ]
        .map(quote)
        .join(','),
    );
  }
  return { csv: `${lines.join('\n')}\n`, truePrice };
}
