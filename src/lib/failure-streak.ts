/**
 * A run of failures of one background task, so an outage is said once rather than once an
 * attempt: `failed` says whether this failure is news (the first, or a different error than
 * the last), `succeeded` how many attempts had failed when the task works again (0: none).
 */
export class FailureStreak {
  private error: string | undefined;
  private count = 0;

  failed(error: string): boolean {
    const news = this.error !== error;
    this.error = error;
    this.count++;
    return news;
  }

  succeeded(): number {
    const n = this.count;
    this.error = undefined;
    this.count = 0;
    return n;
  }
}
