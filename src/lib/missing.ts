/** Cells that mean "no value" in the CSVs people export (pandas, R, SQL clients, UCI files). */
export const MISSING_TOKENS = new Set(['', 'NA', 'N/A', 'NULL', 'null', 'NaN', 'nan', '?', 'None']);

export const isMissingCell = (raw: string | undefined): boolean => raw === undefined || MISSING_TOKENS.has(raw.trim());
