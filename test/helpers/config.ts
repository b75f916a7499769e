import { ConfigError, loadConfig } from '../../src/config.js';

/** What loadConfig refuses in these variables (authentication off unless given), or [] when it takes them. */
export function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig({ MODELGATE_AUTH: 'off', ...env });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}
