// Plain set logic on decision names, without the policy schema: the console compares the
// decisions GET /v1/models/:name lists with the same function the server uses.

/** What two versions decide, when that differs: each one's decisions, and those only one of them gives. */
export interface DecisionDifference {
  mine: string[];
  theirs: string[];
  /** Decisions `mine` gives that `theirs` never does. */
  added: string[];
  /** Decisions `theirs` gives that `mine` never does. */
  missing: string[];
}

/** Undefined when both give the same decisions, in any order. */
export function compareDecisions(mine: string[], theirs: string[]): DecisionDifference | undefined {
  const added = mine.filter((d) => !theirs.includes(d));
  const missing = theirs.filter((d) => !mine.includes(d));
  return added.length || missing.length ? { mine, theirs, added, missing } : undefined;
}
