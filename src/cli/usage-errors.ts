import type { Command, Option } from 'commander';

/**
 * Flags people reach for that a command spells otherwise: the CSV is --data for train, score and
 * evaluate but --file for feedback import, and names go in --model. Commander suggests only
 * flags spelt alike, and --file is not spelt like --data.
 */
const SYNONYMS: Record<string, string[]> = {
  '--file': ['--data'],
  '--data': ['--file'],
  '--csv': ['--data', '--file'],
  '--input': ['--data', '--file'],
  '--output': ['--out'],
  '--name': ['--model'],
};

/** Commander's methods for usage errors, which its typings keep private. */
interface UsageErrors {
  unknownOption(flag: string): void;
  missingMandatoryOptionValue(option: Option): void;
  _excessArguments(received: string[]): void;
  _allowExcessArguments: boolean;
}

/** `modelgate feedback import`: the words that run a command. */
function commandPath(cmd: Command): string {
  const words: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) words.unshift(c.name());
  return words.join(' ');
}

/**
 * Commander checks required options before unknown options and stray arguments, so
 * `score --file x.csv --model m` heard only "required option '--data <csv>' not specified" and
 * `monitor telco` only that --model was missing: the mistake the user made was not named. Each
 * command (and its subcommands) now names an unknown option first, and an argument given where
 * a required option's value was meant.
 */
export function clearerUsageErrors(cmd: Command): void {
  const own = cmd as unknown as UsageErrors;
  const unknown = own.unknownOption.bind(cmd);
  const missing = own.missingMandatoryOptionValue.bind(cmd);
  own.unknownOption = (flag: string) => {
    const longs = cmd.options.map((o) => o.long).filter((l): l is string => l !== undefined);
    const given = flag.split('=')[0];
    // Then a flag that is the given one with a word more or less (--rate-limit for --rate, --event for
    // --event-id), which commander's edit distance misses.
    const meant = SYNONYMS[given]?.find((f) => longs.includes(f)) ?? longs.find((l) => given.startsWith(`${l}-`) || l.startsWith(`${given}-`));
    if (meant) cmd.error(`error: unknown option '${flag}'\n(Did you mean ${meant}?)`, { code: 'commander.unknownOption' });
    unknown(flag);
  };
  own.missingMandatoryOptionValue = (option: Option) => {
    const stray = cmd.args.find((a) => a.startsWith('-') && a.length > 1);
    if (stray) own.unknownOption(stray);
    const extra = cmd.args.filter((a) => !a.startsWith('-'))[cmd.registeredArguments.length];
    if (extra !== undefined && option.required && option.long)
      cmd.error(`error: required option '${option.flags}' not specified; ${JSON.stringify(extra)} was given as an argument: did you mean ${option.long} ${extra}?`, {
        code: 'commander.missingMandatoryOptionValue',
      });
    missing(option);
  };
  // Commander said "too many arguments for 'monitor'. Expected 0 arguments but got 1." for
  // `monitor run --model churn`: the word it did not take is now named, with where the options are.
  own._excessArguments = (received: string[]) => {
    if (own._allowExcessArguments) return;
    const args = cmd.registeredArguments;
    const expected = args.length;
    const extra = received.slice(expected);
    const count = `${args.some((a) => a.required) ? '' : 'at most '}${expected === 1 ? 'one argument' : `${expected} arguments`}`;
    const takes = expected === 0 ? 'takes options only' : `takes ${count} (${args.map((a) => a.name().toUpperCase()).join(' ')}) and options`;
    cmd.error(`error: ${commandPath(cmd)} ${takes}; ${extra.map((a) => JSON.stringify(a)).join(' ')} ${extra.length === 1 ? 'is' : 'are'} more than it takes (a value with spaces needs quotes)`, {
      code: 'commander.excessArguments',
    });
  };
  for (const sub of cmd.commands) clearerUsageErrors(sub);
}
