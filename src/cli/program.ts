import { Command, type CommanderError } from 'commander';
import { registerDemoCommand } from './demo.js';
import { registerRegistryCommands } from './registry.js';
import { registerServeCommand } from './serve.js';
import { registerRolloutCommands } from './rollout.js';
import { registerKeyCommands, registerRateLimitCommands } from './access.js';
import { registerPredictionCommands } from './predictions.js';
import { registerFeedbackCommands } from './feedback.js';
import { registerMonitorCommands } from './monitor.js';
import { registerWebhookCommands } from './webhooks.js';
import { registerTrainCommands } from './train.js';
import { registerEvaluateCommands } from './evaluate.js';
import { registerPolicyCommands } from './policy.js';
import { registerBackupCommands } from './backup.js';
import { registerScoreCommands } from './score.js';
import { registerRetrainCommands } from './retrain.js';
import { VERSION } from '../lib/version.js';
import { clearerUsageErrors } from './usage-errors.js';

/** Every command and its options, built once: main.ts parses argv with it, the docs test reads it. */
export function buildProgram(): Command {
  const program = new Command()
    .name('modelgate')
    .description('Serve, register and roll out tabular decision models (ONNX).\nConfiguration comes from environment variables; see the README.')
    .version(VERSION)
    // Program options only before the command name, so `promote --version 3` means the model version.
    .enablePositionalOptions()
    .showHelpAfterError('(run with --help for usage)')
    // Usage errors (unknown option, missing required option, bad argument, unknown command) exit
    // 2 as the README says; commander's own default is 1. Set before the commands are added, so
    // every subcommand inherits it.
    .exitOverride((e: CommanderError) => process.exit(e.exitCode === 0 ? 0 : 2));

  registerServeCommand(program);
  registerRegistryCommands(program);
  registerRolloutCommands(program);
  registerKeyCommands(program);
  registerRateLimitCommands(program);
  registerPredictionCommands(program);
  registerFeedbackCommands(program);
  registerMonitorCommands(program);
  registerWebhookCommands(program);
  registerTrainCommands(program);
  registerEvaluateCommands(program);
  registerScoreCommands(program);
  registerRetrainCommands(program);
  registerPolicyCommands(program);
  registerBackupCommands(program);
  registerDemoCommand(program);
  clearerUsageErrors(program);
  return program;
}
