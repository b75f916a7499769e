#!/usr/bin/env node
import { Command } from 'commander';
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

const program = new Command()
  .name('modelgate')
  .description('Serve, register and roll out tabular decision models (ONNX).\nConfiguration comes from environment variables; see the README.')
  .version('0.1.0')
  // Program options only before the command name, so `promote --version 3` means the model version.
  .enablePositionalOptions()
  .showHelpAfterError('(run with --help for usage)');

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
registerPolicyCommands(program);
registerDemoCommand(program);

await program.parseAsync(process.argv);
