import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { inspect } from 'node:util';

/** Every level, debug and verbose included. */
export const ALL_LOG_LEVELS: LogLevel[] = [
  'fatal',
  'error',
  'warn',
  'log',
  'debug',
  'verbose',
];

/**
 * A Nest logger that records instead of printing, with every level enabled: pass it as
 * the app's `logger` and read {@link CapturingLogger.lines}.
 */
export class CapturingLogger extends ConsoleLogger {
  /** `level [context] message`, one entry per message, stacks as their own entries. */
  readonly lines: string[] = [];

  constructor() {
    super('test', { logLevels: ALL_LOG_LEVELS });
  }

  /** Everything recorded, one entry per line. */
  get text(): string {
    return this.lines.join('\n');
  }

  protected override printMessages(
    messages: unknown[],
    context = '',
    logLevel: LogLevel = 'log',
    _writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
  ): void {
    for (const message of messages) {
      const text = typeof message === 'string' ? message : inspect(message);
      this.lines.push(`${logLevel} [${context}] ${text}`);
    }
    if (errorStack !== undefined) {
      this.lines.push(
        typeof errorStack === 'string' ? errorStack : inspect(errorStack),
      );
    }
  }
}
