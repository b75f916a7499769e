import type { Dataset } from './dataset.js';
import { choose, normal, seededRandom } from './random.js';

export const HOTEL_NUMERIC = [
  'lead_time',
  'adr',
  'stays_in_weekend_nights',
  'stays_in_week_nights',
  'adults',
  'previous_cancellations',
  'booking_changes',
  'total_of_special_requests',
  'required_car_parking_spaces',
  'is_repeated_guest',
] as const;
export const HOTEL_CATEGORICAL = ['hotel', 'deposit_type', 'market_segment', 'customer_type'] as const;

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/**
 * A synthetic hotel-booking cancellation data set with the columns and the kind of signal of
 * the public hotel booking demand data (long lead times and non-refundable deposits cancel,
 * special requests and parking do not), including its dirt: missing rates (adr) and rare
 * categories. The label is drawn from a known logistic model, so a fitted model can be
 * checked against the truth.
 */
export function generateHotelBookings(rows: number, seed = 42): Dataset {
  const rand = seededRandom(seed);
  const num = Object.fromEntries(HOTEL_NUMERIC.map((k) => [k, new Float64Array(rows)])) as Record<(typeof HOTEL_NUMERIC)[number], Float64Array>;
  const cat = Object.fromEntries(HOTEL_CATEGORICAL.map((k) => [k, new Array<string>(rows)])) as Record<(typeof HOTEL_CATEGORICAL)[number], string[]>;
  const label = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) {
    const hotel = choose(rand, [
      ['City Hotel', 0.66],
      ['Resort Hotel', 0.34],
    ] as const);
    const segment = choose(rand, [
      ['Online TA', 0.47],
      ['Offline TA/TO', 0.2],
      ['Groups', 0.17],
      ['Direct', 0.1],
      ['Corporate', 0.05],
      ['Aviation', 0.01],
    ] as const);
    const deposit = choose(rand, [
      ['No Deposit', 0.86],
      ['Non Refund', 0.12],
      ['Refundable', 0.02],
    ] as const);
    const customer = choose(rand, [
      ['Transient', 0.75],
      ['Transient-Party', 0.2],
      ['Contract', 0.035],
      ['Group', 0.015],
    ] as const);
    const lead = Math.min(700, Math.round(-Math.log(1 - rand()) * (segment === 'Groups' ? 160 : 90)));
    const weekend = Math.min(10, Math.round(Math.abs(normal(rand)) * 1.2));
    const week = Math.min(30, Math.round(Math.abs(normal(rand)) * 2.5));
    const adults = choose(rand, [
      [1, 0.2],
      [2, 0.72],
      [3, 0.07],
      [4, 0.01],
    ] as const);
    const repeated = rand() < 0.03 ? 1 : 0;
    const prevCancel = rand() < 0.06 ? 1 + Math.floor(rand() * 3) : 0;
    const changes = rand() < 0.8 ? 0 : 1 + Math.floor(rand() * 3);
    const requests = choose(rand, [
      [0, 0.55],
      [1, 0.28],
      [2, 0.12],
      [3, 0.05],
    ] as const);
    const parking = rand() < 0.07 ? 1 : 0;
    const adrTrue = Math.max(0, 95 + (hotel === 'Resort Hotel' ? -10 : 8) + 30 * normal(rand) + 8 * adults);
    // Missing prices are common in real booking exports.
    const adr = rand() < 0.03 ? NaN : Math.round(adrTrue * 100) / 100;

    const z =
      -1.6 +
      0.0055 * lead +
      (deposit === 'Non Refund' ? 3.2 : deposit === 'Refundable' ? -0.4 : 0) +
      (segment === 'Online TA' ? 0.55 : segment === 'Groups' ? 0.35 : segment === 'Direct' ? -0.6 : segment === 'Corporate' ? -0.7 : 0) +
      (customer === 'Transient' ? 0.3 : customer === 'Group' ? -0.5 : 0) +
      (hotel === 'City Hotel' ? 0.25 : 0) +
      0.9 * Math.min(prevCancel, 2) -
      0.55 * requests -
      2.2 * parking -
      0.35 * changes -
      0.9 * repeated +
      0.004 * (adrTrue - 100) +
      0.05 * week;
    label[i] = rand() < sigmoid(z) ? 1 : 0;

    num.lead_time[i] = lead;
    num.adr[i] = adr;
    num.stays_in_weekend_nights[i] = weekend;
    num.stays_in_week_nights[i] = week;
    num.adults[i] = adults;
    num.previous_cancellations[i] = prevCancel;
    num.booking_changes[i] = changes;
    num.total_of_special_requests[i] = requests;
    num.required_car_parking_spaces[i] = parking;
    num.is_repeated_guest[i] = repeated;
    cat.hotel[i] = hotel;
    cat.deposit_type[i] = deposit;
    cat.market_segment[i] = segment;
    cat.customer_type[i] = customer;
  }
  return { numeric: num, categorical: cat, label, rows };
}
