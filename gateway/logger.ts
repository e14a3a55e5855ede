// Structured logs (pino). Secrets are redacted by path here, and the camera client logs only
// paths and actions, never query strings, so a password cannot reach a log line.
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'camgate' } };
  return destination ? pino(options, destination as unknown as pino.DestinationStream) : pino(options);
}
