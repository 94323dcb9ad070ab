/**
 * The structured log of every service command (`overt relay serve`, `log serve`, `witness serve`, `trustee serve`;
 * docs/spec/start.md §4.4.5, SVC-1): one pino logger per service, JSON lines on stderr (the command's own results —
 * listening, stopped — stay on stdout), each line with `service`. Nothing secret is handed to it; in case a field
 * ever carries one, pino's `redact` removes the secret-bearing names at the top level and one level down.
 */
import { pino } from 'pino';
import { type CommandContext, UsageError } from './command.js';

/** Field names whose values never reach the log (SVC-1). */
export const REDACTED_FIELDS = [
  'key',
  'secret',
  'secretKey',
  'seed',
  'token',
  'passphrase',
  'password',
  'authorization',
  'share',
  'userId',
  'deviceId',
  'user',
  'device',
] as const;

export const SERVICE_LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type ServiceLogLevel = (typeof SERVICE_LOG_LEVELS)[number];

export type ServiceLogger = pino.Logger;

/**
 * The logger of `service`. `write` (tests) receives each JSON line; the default is a synchronous write to fd 2, so
 * that every line is out before the process exits on a signal.
 */
export function serviceLogger(
  service: 'relay' | 'log' | 'witness' | 'trustee',
  level: ServiceLogLevel = 'info',
  write?: (line: string) => void,
): ServiceLogger {
  const paths = [...REDACTED_FIELDS, ...REDACTED_FIELDS.map((f) => `*.${f}`)];
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths, censor: '[redacted]' },
  };
  if (write !== undefined) return pino(options, { write });
  return pino(options, pino.destination({ fd: 2, sync: true }));
}

/**
 * The level of a service command's log: its --log-level when it has one, else $OVERT_LOG_LEVEL, else info.
 * @throws UsageError for another value.
 */
export function logLevel(ctx: CommandContext): ServiceLogLevel {
  const given = ctx.values['log-level'];
  const env = (ctx.io.env ?? process.env).OVERT_LOG_LEVEL;
  const level = typeof given === 'string' ? given : env !== undefined && env !== '' ? env : 'info';
  if (!(SERVICE_LOG_LEVELS as readonly string[]).includes(level))
    throw new UsageError(`--log-level (or OVERT_LOG_LEVEL) must be one of ${SERVICE_LOG_LEVELS.join(', ')}`);
  return level as ServiceLogLevel;
}
