/** Which database a Db talks to; migrations branch on it where the two differ. */
export type Dialect = 'sqlite' | 'postgres';
